#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Connecting as the best modules let you: quiet state-changing cmdlets, a default port,
# -ComputerName, -Credential and -Certificate, advice that fits the failure, and error
# records whose recommended action is only the Recommendation.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
    $Pem = @{
        CertificatePath = Join-Path $Agent.Pki 'client.crt'
        KeyPath         = Join-Path $Agent.Pki 'client.key'
        CaPath          = Join-Path $Agent.Pki 'ca.crt'
    }
}
AfterAll { Remove-TestSession }

Describe 'State-changing cmdlets are quiet unless -PassThru' {
    It 'Connect-RouterHostsAgent writes nothing, -PassThru and -NotDefault write the connection' {
        Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig | Should -BeNullOrEmpty
        $passed = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -PassThru
        $passed | Should -BeOfType ([RouterHosts.RouterHostsConnection])
        $passed.IsDefault | Should -BeTrue
        $other = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault
        $other | Should -BeOfType ([RouterHosts.RouterHostsConnection])
        $other.IsDefault | Should -BeFalse
        Disconnect-RouterHostsAgent -Connection $other
    }

    It 'Start-RouterHostsEdit and New-RouterHostsSnapshot write nothing unless -PassThru' {
        $conn = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault
        try {
            Start-RouterHostsEdit -Connection $conn | Should -BeNullOrEmpty
            $conn.HasEditSession | Should -BeTrue
            Undo-RouterHostsEdit -Connection $conn -Confirm:$false
            (Start-RouterHostsEdit -Connection $conn -PassThru) | Should -BeOfType ([RouterHosts.RouterHostsEdit])
            Undo-RouterHostsEdit -Connection $conn -Confirm:$false
            New-RouterHostsSnapshot quiet -Connection $conn | Should -BeNullOrEmpty
            (New-RouterHostsSnapshot loud -Connection $conn -PassThru).Name | Should -Be 'loud'
        }
        finally { Disconnect-RouterHostsAgent -Connection $conn }
    }

    It 'in a script, Connect then Get-RouterHost prints a table, not lists' {
        Add-RouterHost 10.80.0.1 quiet-table
        $out = Invoke-FreshPwsh -ArgumentList $RootManifest, $Agent.ClientConfig -ScriptBlock {
            param($manifest, $config)
            Import-Module $manifest
            Connect-RouterHostsAgent -ConfigPath $config
            Get-RouterHost quiet-table | Out-String -Width 80
        } | Out-String
        $out | Should -Match 'Hostname\s+IPAddress\s+Aliases\s+Tags\s+Comment'
        $out | Should -Not -Match 'Target\s*:'
    }
}

Describe 'Endpoints and certificates' {
    It 'adds the default port 50051 to an endpoint without one; -ComputerName is -Endpoint' {
        $c = Connect-RouterHostsAgent -ComputerName 127.0.0.1 @Pem -NotDefault
        $c.Target | Should -Be '127.0.0.1:50051'
        Disconnect-RouterHostsAgent -Connection $c
        $v6 = Connect-RouterHostsAgent -Endpoint '::1' @Pem -NotDefault
        $v6.Target | Should -Be '[::1]:50051'
        Disconnect-RouterHostsAgent -Connection $v6
    }

    It 'takes the PFX password as a PSCredential' {
        $pfx = Join-Path $TestDrive 'with-password.pfx'
        $cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPemFile($Pem.CertificatePath, $Pem.KeyPath)
        [System.IO.File]::WriteAllBytes($pfx, $cert.Export('Pkcs12', 'p4ss'))
        $credential = [pscredential]::new('ignored', (ConvertTo-SecureString -String 'p4ss' -AsPlainText -Force))
        $c = Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -CertificatePath $pfx -Credential $credential -CaPath $Pem.CaPath -ServerName localhost -NotDefault
        try { Test-RouterHostsAgent -Connection $c | Should -BeTrue }
        finally { Disconnect-RouterHostsAgent -Connection $c }
        $wrong = [pscredential]::new('ignored', (ConvertTo-SecureString -String 'nope' -AsPlainText -Force))
        { Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -CertificatePath $pfx -Credential $wrong -CaPath $Pem.CaPath -NotDefault } |
            Should -Throw -ErrorId 'RouterHostsInvalidConnectionOptions,RouterHosts.Commands.ConnectRouterHostsAgentCommand'
    }

    It 'takes -Certificate as an X509Certificate2, or as the thumbprint of one in the My store' {
        $cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPemFile($Pem.CertificatePath, $Pem.KeyPath)
        $c = Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -Certificate $cert -CaPath $Pem.CaPath -ServerName localhost -NotDefault
        try { Test-RouterHostsAgent -Connection $c | Should -BeTrue }
        finally { Disconnect-RouterHostsAgent -Connection $c }

        # Put it (with its key) in CurrentUser\My, as a Windows user would have it, then name it by thumbprint.
        $exportable = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($cert.Export('Pkcs12'), '',
            [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::Exportable -bor [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::PersistKeySet)
        $store = [System.Security.Cryptography.X509Certificates.X509Store]::new('My', 'CurrentUser')
        $store.Open('ReadWrite')
        try {
            $store.Add($exportable)
            $byThumbprint = Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -Certificate $cert.Thumbprint -CaPath $Pem.CaPath -ServerName localhost -NotDefault
            try { Test-RouterHostsAgent -Connection $byThumbprint | Should -BeTrue }
            finally { Disconnect-RouterHostsAgent -Connection $byThumbprint }
        }
        finally {
            $store.Remove($exportable)
            $store.Dispose()
        }
        { Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -Certificate ('0' * 40) -CaPath $Pem.CaPath -NotDefault } |
            Should -Throw '*No certificate with thumbprint*'
    }
}

Describe 'Errors that say what to do' {
    It 'a wrong -ServerName gets advice about the server name, not the client certificate' {
        $c = Connect-RouterHostsAgent -Endpoint $Agent.Endpoint @Pem -ServerName wrong.example -NotDefault
        try {
            $caught = $null
            try { Get-RouterHost -Connection $c } catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -Be 'RouterHostsAuthenticationFailed,RouterHosts.Commands.GetRouterHostCommand'
            $caught.ErrorDetails.Message | Should -Match "not valid for the name 'wrong.example'"
            $caught.ErrorDetails.RecommendedAction | Should -Match '-ServerName'
            $caught.ErrorDetails.RecommendedAction | Should -Not -Match 'client certificate'
            $caught.TargetObject | Should -Be $Agent.Endpoint
        }
        finally { Disconnect-RouterHostsAgent -Connection $c }
    }

    It 'an unreachable agent: the endpoint is the TargetObject, and the advice is only the Recommendation' {
        $c = Connect-RouterHostsAgent -Endpoint "127.0.0.1:$(Get-FreePort)" @Pem -NotDefault
        try {
            $caught = $null
            try { Get-RouterHost -Connection $c } catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -Be 'RouterHostsAgentUnreachable,RouterHosts.Commands.GetRouterHostCommand'
            $caught.TargetObject | Should -Be $c.Target
            $caught.ErrorDetails.RecommendedAction | Should -Match 'Test-RouterHostsAgent'
            $caught.ErrorDetails.Message | Should -Not -Match 'Test-RouterHostsAgent'
        }
        finally { Disconnect-RouterHostsAgent -Connection $c }
    }
}
