#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Edit sessions: Start-, Complete-, Undo-, Get-RouterHostsEdit, conflicts, expiry.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Edit sessions' {
    BeforeAll {
        $other = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault
    }
    AfterEach {
        if ($Connection.HasEditSession) { Undo-RouterHostsEdit -Confirm:$false }
    }
    AfterAll {
        if ($other.HasEditSession) { Undo-RouterHostsEdit -Connection $other -Confirm:$false }
        $other | Disconnect-RouterHostsAgent
    }

    It 'stages changes on the connection and applies them at once on Complete' {
        $edit = Start-RouterHostsEdit
        $edit | Should -BeOfType ([RouterHosts.RouterHostsEdit])
        $edit.IsMine | Should -BeTrue
        $Connection.HasEditSession | Should -BeTrue

        $staged = Add-RouterHost 10.60.0.1 edit-one -Tag edittest -PassThru
        $staged.Staged | Should -BeTrue
        Add-RouterHost 10.60.0.2 edit-two -Tag edittest
        (Get-RouterHost edit-one).Staged | Should -BeTrue
        (Get-RouterHostsEdit).StagedChanges | Should -Be 2
        (Get-RouterHostsAgent).EditSession.StagedChanges | Should -Be 2
        { Get-RouterHost edit-one -Connection $other -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
        (Get-Content -LiteralPath $Agent.HostsFile -Raw) | Should -Not -Match 'edit-one'

        $result = Complete-RouterHostsEdit
        $result | Should -BeOfType ([RouterHosts.RouterHostsEditResult])
        $result.Added | Should -Be 2
        $result.SnapshotId | Should -Not -BeNullOrEmpty
        $Connection.HasEditSession | Should -BeFalse
        (Get-RouterHost edit-one -Connection $other).Staged | Should -BeFalse
        (Get-Content -LiteralPath $Agent.HostsFile -Raw) | Should -Match 'edit-one'
        Get-RouterHostsEdit | Should -BeNullOrEmpty
    }

    It 'stages imports, updates and removals too' {
        $h = Add-RouterHost 10.60.1.1 edit-mixed -PassThru
        $gone = Add-RouterHost 10.60.1.3 edit-gone -PassThru
        Start-RouterHostsEdit | Out-Null
        $h | Set-RouterHost -Comment 'staged'
        $gone | Remove-RouterHost -Confirm:$false
        $path = New-Csv 'edit-import.csv' @('ip_address,hostname', '10.60.1.2,edit-imported')
        (Import-RouterHost -LiteralPath $path -PassThru).Staged | Should -BeTrue
        (Get-RouterHost edit-mixed -Connection $other).Comment | Should -BeNullOrEmpty
        (Get-RouterHost edit-gone -Connection $other).Id | Should -Be $gone.Id
        $result = Complete-RouterHostsEdit
        $result.Added | Should -Be 1
        $result.Changed | Should -Be 1
        $result.Removed | Should -Be 1
        (Get-RouterHost edit-mixed).Comment | Should -Be 'staged'
        Get-RouterHost -Hostname 'edit-gone*' | Should -BeNullOrEmpty
    }

    It 'discards staged changes on Undo (ConfirmImpact High) and -WhatIf keeps them' {
        Start-RouterHostsEdit | Out-Null
        Add-RouterHost 10.60.2.1 edit-undone
        Undo-RouterHostsEdit -WhatIf
        $Connection.HasEditSession | Should -BeTrue
        Undo-RouterHostsEdit -Confirm:$false -PassThru | Should -Be 1
        $Connection.HasEditSession | Should -BeFalse
        { Get-RouterHost edit-undone -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }

    It 'refuses to complete or undo without a session, and a second session while one is open' {
        { Complete-RouterHostsEdit } | Should -Throw -ErrorId 'RouterHostsNoEditSession,RouterHosts.Commands.CompleteRouterHostsEditCommand'
        { Undo-RouterHostsEdit -Confirm:$false } | Should -Throw -ErrorId 'RouterHostsNoEditSession,RouterHosts.Commands.UndoRouterHostsEditCommand'
        Start-RouterHostsEdit | Out-Null
        { Start-RouterHostsEdit } | Should -Throw -ErrorId 'RouterHostsEditInProgress,RouterHosts.Commands.StartRouterHostsEditCommand'
        { Start-RouterHostsEdit -Connection $other } | Should -Throw -ErrorId 'RouterHostsEditInProgress,RouterHosts.Commands.StartRouterHostsEditCommand'
        $seen = Get-RouterHostsEdit -Connection $other
        $seen.IsMine | Should -BeFalse
    }

    It 'starts nothing with -WhatIf' {
        Start-RouterHostsEdit -WhatIf
        $Connection.HasEditSession | Should -BeFalse
        Get-RouterHostsEdit | Should -BeNullOrEmpty
    }

    It 'on conflict applies nothing, keeps the session open and lists every conflict in one terminating error' {
        $victim = Add-RouterHost 10.60.3.1 edit-victim -PassThru
        Start-RouterHostsEdit | Out-Null
        $victim | Set-RouterHost -Comment 'staged change'
        Add-RouterHost 10.60.3.2 edit-extra
        Remove-RouterHost -Id $victim.Id -Connection $other -Confirm:$false   # a live change behind the session's back
        $caught = $null
        try { Complete-RouterHostsEdit } catch { $caught = $_ }
        $caught.FullyQualifiedErrorId | Should -Be 'RouterHostsEditConflict,RouterHosts.Commands.CompleteRouterHostsEditCommand'
        $caught.CategoryInfo.Category | Should -Be 'ResourceBusy'
        "$($caught.ErrorDetails.Message)" | Should -Match 'change 1'
        "$($caught.ErrorDetails.Message)" | Should -Match $victim.Id
        $Connection.HasEditSession | Should -BeTrue
        { Get-RouterHost edit-extra -Connection $other -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }
}

Describe 'Edit session expiry' {
    BeforeAll {
        # A second agent from a configuration file, with a 2-second idle timeout, reusing the dev PKI.
        $expiryDir = Join-Path $TestDrive 'expiry'
        $null = New-Item -ItemType Directory -Path $expiryDir -Force
        $expiryPort = Get-FreePort
        $hostsPath = Join-Path $expiryDir 'hosts'
        Set-Content -LiteralPath $hostsPath -Value "127.0.0.1`tlocalhost" -Encoding utf8NoBOM
        $config = Join-Path $expiryDir 'agent.json'
        @{
            listen       = @("127.0.0.1:$expiryPort")
            tls          = @{ certificate = (Join-Path $Agent.Pki 'server.crt'); key = (Join-Path $Agent.Pki 'server.key'); ca = (Join-Path $Agent.Pki 'ca.crt') }
            database     = (Join-Path $expiryDir 'hosts.db')
            hosts_file   = @{ path = $hostsPath; mode = 'block' }
            edit_session = @{ idle_timeout_seconds = 2 }
        } | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $config -Encoding utf8NoBOM
        $expiryAgent = Start-TestAgent -Name 'expiry-agent' -ConfigPath $config
        $expiring = Connect-RouterHostsAgent -Endpoint "127.0.0.1:$expiryPort" -CertificatePath (Join-Path $Agent.Pki 'client.crt') `
            -KeyPath (Join-Path $Agent.Pki 'client.key') -CaPath (Join-Path $Agent.Pki 'ca.crt') -ServerName localhost -NotDefault
        Wait-TestAgent -Agent $expiryAgent -Connection $expiring
    }
    AfterAll {
        if ($expiring) { $expiring | Disconnect-RouterHostsAgent }
        Stop-TestAgent $expiryAgent
    }

    It 'reports RouterHostsEditExpired and lets later commands go to the live set' {
        Start-RouterHostsEdit -Connection $expiring | Out-Null
        Add-RouterHost 10.61.0.1 expire-staged -Connection $expiring
        Start-Sleep -Seconds 4
        { Add-RouterHost 10.61.0.2 expire-late -Connection $expiring -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsEditExpired,RouterHosts.Commands.AddRouterHostCommand'
        $expiring.HasEditSession | Should -BeFalse
        Add-RouterHost 10.61.0.3 expire-live -Connection $expiring
        (Get-RouterHost expire-live -Connection $expiring).Staged | Should -BeFalse
        { Get-RouterHost expire-staged -Connection $expiring -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }
}
