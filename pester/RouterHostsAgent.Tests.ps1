#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Connect-, Disconnect-, Get- and Test-RouterHostsAgent: connections, default configuration, an agent that is down.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Connect-RouterHostsAgent and Disconnect-RouterHostsAgent' {
    It 'returns the connection and makes it the default' {
        $Connection | Should -BeOfType ([RouterHosts.RouterHostsConnection])
        $Connection.Target | Should -Be $Agent.Endpoint
        $Connection.Transport | Should -Be 'mTLS'
        $Connection.ConfigPath | Should -Be (Resolve-Path -LiteralPath $Agent.ClientConfig).Path
        $Connection.IsOpen | Should -BeTrue
        $Connection.IsDefault | Should -BeTrue
    }

    It 'keeps the current default with -NotDefault' {
        $other = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault
        try {
            $other.IsDefault | Should -BeFalse
            $Connection.IsDefault | Should -BeTrue
            Test-RouterHostsAgent -Connection $other | Should -BeTrue
        }
        finally { $other | Disconnect-RouterHostsAgent }
    }

    It 'connects with PEM certificate, key and CA files' {
        $pem = Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -CertificatePath (Join-Path $Agent.Pki 'client.crt') `
            -KeyPath (Join-Path $Agent.Pki 'client.key') -CaPath (Join-Path $Agent.Pki 'ca.crt') -ServerName localhost -NotDefault
        try { Test-RouterHostsAgent -Connection $pem | Should -BeTrue }
        finally { Disconnect-RouterHostsAgent -Connection $pem }
    }

    It 'connects with a PKCS#12 certificate' {
        $pfx = Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -CertificatePath (Join-Path $Agent.Pki 'client.pfx') `
            -CaPath (Join-Path $Agent.Pki 'ca.crt') -ServerName localhost -NotDefault
        try { (Get-RouterHostsAgent -Connection $pfx).Healthy | Should -BeTrue }
        finally { Disconnect-RouterHostsAgent -Connection $pfx }
    }

    It 'resolves relative paths against the current location' {
        Push-Location $Agent.DataDir
        try {
            $relative = Connect-RouterHostsAgent -ConfigPath ./client.json -NotDefault
            try { Test-RouterHostsAgent -Connection $relative | Should -BeTrue } finally { $relative | Disconnect-RouterHostsAgent }
        }
        finally { Pop-Location }
    }

    It 'reports a certificate that cannot be loaded by name, as a terminating error' {
        { Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -CertificatePath (Join-Path $TestDrive 'missing.crt') -KeyPath (Join-Path $TestDrive 'missing.key') `
                -CaPath (Join-Path $Agent.Pki 'ca.crt') -NotDefault } |
            Should -Throw -ErrorId 'RouterHostsInvalidConnectionOptions,RouterHosts.Commands.ConnectRouterHostsAgentCommand'
        { Connect-RouterHostsAgent -ConfigPath (Join-Path $TestDrive 'nope.json') -NotDefault } |
            Should -Throw -ErrorId 'RouterHostsInvalidConnectionOptions,RouterHosts.Commands.ConnectRouterHostsAgentCommand'
    }

    It 'closes a connection; a closed connection cannot be used' {
        $closing = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault
        $closing | Disconnect-RouterHostsAgent
        $closing.IsOpen | Should -BeFalse
        { Get-RouterHost -Connection $closing } | Should -Throw -ErrorId 'RouterHostsNotConnected,RouterHosts.Commands.GetRouterHostCommand'
    }

    It 'without a connection uses the default client configuration, and otherwise says how to connect' {
        $result = Invoke-FreshPwsh -ArgumentList $RootManifest, $Agent.ClientConfig, (Join-Path $TestDrive 'no-such-client.json') -ScriptBlock {
            param($manifest, $clientConfig, $missing)
            Import-Module $manifest
            $env:ROUTERHOSTS_CLIENT_CONFIG = $missing
            $notConnected = try { Get-RouterHost -ErrorAction Stop; 'no error' } catch { $_.FullyQualifiedErrorId + '|' + $_.Exception.Message + '|' + $_.ErrorDetails.Message + '|' + $_.ErrorDetails.RecommendedAction }
            $env:ROUTERHOSTS_CLIENT_CONFIG = $clientConfig
            $viaDefaultFile = Test-RouterHostsAgent
            Disconnect-RouterHostsAgent
            $afterDisconnectWithFile = Test-RouterHostsAgent   # connects again from the default file
            $env:ROUTERHOSTS_CLIENT_CONFIG = $missing
            Disconnect-RouterHostsAgent
            $afterDisconnect = try { Get-RouterHostsAgent -ErrorAction Stop; 'no error' } catch { $_.FullyQualifiedErrorId }
            [pscustomobject]@{ NotConnected = $notConnected; ViaDefaultFile = $viaDefaultFile; Again = $afterDisconnectWithFile; AfterDisconnect = $afterDisconnect }
        }
        $result.NotConnected | Should -BeLike 'RouterHostsNotConnected,RouterHosts.Commands.GetRouterHostCommand|*'
        $result.NotConnected | Should -BeLike '*Connect-RouterHostsAgent*'
        $result.NotConnected | Should -BeLike '*no-such-client.json*'
        $result.ViaDefaultFile | Should -BeTrue
        $result.Again | Should -BeTrue
        $result.AfterDisconnect | Should -Be 'RouterHostsNotConnected,RouterHosts.Commands.GetRouterHostsAgentCommand'
    }
}

Describe 'Get-RouterHostsAgent and Test-RouterHostsAgent' {
    It 'reports health, version, uptime, the hosts file and the edit session' {
        $status = Get-RouterHostsAgent
        $status | Should -BeOfType ([RouterHosts.RouterHostsAgentStatus])
        $status.Healthy | Should -BeTrue
        $status.Version | Should -Not -BeNullOrEmpty
        $status.Uptime | Should -BeOfType ([timespan])
        $status.Endpoint | Should -Be $Agent.Endpoint
        $status.HostsFilePath | Should -Be $Agent.HostsFile
        $status.HostsFileCurrent | Should -BeTrue
        $status.EditSession | Should -BeNullOrEmpty
        ($status | Format-Table | Out-String) | Should -Match 'Healthy'
    }

    It 'tests true against a live agent' {
        Test-RouterHostsAgent | Should -BeTrue
        Test-RouterHostsAgent -Connection $Connection | Should -BeOfType ([bool])
    }

    Context 'when the agent is down' {
        BeforeAll {
            $dead = Connect-RouterHostsAgent -Endpoint "127.0.0.1:$(Get-FreePort)" -CertificatePath (Join-Path $Agent.Pki 'client.crt') `
                -KeyPath (Join-Path $Agent.Pki 'client.key') -CaPath (Join-Path $Agent.Pki 'ca.crt') -ServerName localhost -NotDefault
        }
        AfterAll { $dead | Disconnect-RouterHostsAgent }

        It 'tests false, with the reason in the verbose stream' {
            $verbose = Test-RouterHostsAgent -Connection $dead -Verbose 4>&1
            @($verbose | Where-Object { $_ -is [bool] }) | Should -Be @($false)
            # The call's own timing line comes too (-Verbose says what was called); one line names the reason.
            @($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Where-Object Message -Match 'not ready').Count | Should -Be 1
        }

        It 'stops with one terminating error that says how to fix it' {
            $error.Clear()
            $caught = $null
            try { Get-RouterHost -Connection $dead } catch { $caught = $_ }
            $caught | Should -Not -BeNullOrEmpty
            $caught.FullyQualifiedErrorId | Should -Be 'RouterHostsAgentUnreachable,RouterHosts.Commands.GetRouterHostCommand'
            $caught.CategoryInfo.Category | Should -Be 'ConnectionError'
            # What to do is the Recommendation, not repeated in the message; the target is the endpoint.
            $caught.ErrorDetails.RecommendedAction | Should -Match 'routerhosts-agent'
            $caught.ErrorDetails.RecommendedAction | Should -Match 'Test-RouterHostsAgent'
            "$($caught.ErrorDetails.Message)" | Should -Not -Match 'Test-RouterHostsAgent'
            $caught.TargetObject | Should -Be $dead.Target
            $caught.Exception | Should -BeOfType ([RouterHosts.RouterHostsException])
        }

        It 'stops a whole pipeline with one error, not one per row' {
            $rows = 1..20 | ForEach-Object { [pscustomobject]@{ ip = "10.99.0.$_"; hostname = "down$_" } }
            $errors = @()
            $caught = $null
            try { $rows | Add-RouterHost -Connection $dead -ErrorVariable errors -ErrorAction SilentlyContinue } catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -Be 'RouterHostsAgentUnreachable,RouterHosts.Commands.AddRouterHostCommand'
            # the terminating error may also be recorded in -ErrorVariable, but there is no error per row
            @($errors | Where-Object { "$($_.FullyQualifiedErrorId)" -like 'RouterHosts*' }).Count | Should -BeLessOrEqual 1
        }
    }
}
