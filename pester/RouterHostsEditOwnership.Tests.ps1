#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Who an edit session belongs to: Start-RouterHostsEdit -Resume takes up your own session
# from another pwsh, Undo-RouterHostsEdit -Force discards it, and an admin's -Force ends
# anyone's (logged and recorded). Against a real agent started by TestSetup.ps1 (see
# there); the dev client is admin, "wendy" is a writer issued by the agent's own PKI.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')

    # Starts a session in another pwsh process that then ends, leaving the session open.
    function Start-EditElsewhere([string] $ClientConfig, [string] $Hostname) {
        Invoke-FreshPwsh -ArgumentList $RootManifest, $ClientConfig, $Hostname -ScriptBlock {
            param($manifest, $clientConfig, $hostname)
            Import-Module $manifest
            Connect-RouterHostsAgent -ConfigPath $clientConfig | Out-Null
            Start-RouterHostsEdit | Out-Null
            Add-RouterHost 10.61.0.1 $hostname
        }
        if ($LASTEXITCODE -ne 0) { throw "the other pwsh failed ($LASTEXITCODE)" }
    }
}
AfterAll { Remove-TestSession }

Describe 'Edit session ownership' {
    BeforeAll {
        $wendyDir = Join-Path $TestDrive 'wendy'
        & dotnet $AgentDll pki issue-client --dir $Agent.Pki --name wendy --role writer --endpoint $Agent.Endpoint --out $wendyDir | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "pki issue-client failed ($LASTEXITCODE)" }
        $wendyConfig = Join-Path $wendyDir 'client.json'
    }
    AfterEach {
        if (Get-RouterHostsEdit) { Undo-RouterHostsEdit -Force -Confirm:$false }
    }

    It 'takes up its own session, started by a pwsh that has ended, with -Resume' {
        Start-EditElsewhere $Agent.ClientConfig 'own-resumed'
        { Start-RouterHostsEdit -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsEditInProgress,RouterHosts.Commands.StartRouterHostsEditCommand'

        $edit = Start-RouterHostsEdit -Resume -PassThru
        $edit.StagedChanges | Should -Be 1
        $edit.IsMine | Should -BeTrue
        $Connection.HasEditSession | Should -BeTrue
        (Get-RouterHost own-resumed).Staged | Should -BeTrue
        (Complete-RouterHostsEdit).Added | Should -Be 1
        (Get-RouterHost own-resumed).Staged | Should -BeFalse
    }

    It '-Resume without a session of yours starts nothing' {
        { Start-RouterHostsEdit -Resume -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsNoEditSession,RouterHosts.Commands.StartRouterHostsEditCommand'
        Get-RouterHostsEdit | Should -BeNullOrEmpty
    }

    It 'discards its own session from another pwsh with -Force' {
        Start-EditElsewhere $Agent.ClientConfig 'own-discarded'
        Undo-RouterHostsEdit -Force -WhatIf
        (Get-RouterHostsEdit).StagedChanges | Should -Be 1

        Undo-RouterHostsEdit -Force -Confirm:$false -PassThru | Should -Be 1
        Get-RouterHostsEdit | Should -BeNullOrEmpty
        { Get-RouterHost own-discarded -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }

    It 'lets an admin end another identity''s session, and logs and records it' {
        Start-EditElsewhere $wendyConfig 'wendy-ended'
        (Get-RouterHostsEdit).Holder | Should -Match 'CN=wendy'

        # Another identity cannot take it up, nor use it.
        { Start-RouterHostsEdit -Resume -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsNoEditSession,RouterHosts.Commands.StartRouterHostsEditCommand'

        Undo-RouterHostsEdit -Force -Confirm:$false -PassThru | Should -Be 1
        Get-RouterHostsEdit | Should -BeNullOrEmpty
        $record = Get-RouterHostsSnapshot | Where-Object Trigger -EQ 'edit-ended'
        @($record).Count | Should -Be 1
        $record.Name | Should -Match 'CN=wendy'
        $record.Name | Should -Match 'ended by CN=routerhosts-dev-client'
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ((Get-AgentLog $Agent) -notmatch 'warn: .*ended the edit session of CN=wendy') {
            if ([DateTime]::UtcNow -gt $deadline) { throw "the agent did not log the forced end:`n$(Get-AgentLog $Agent)" }
            Start-Sleep -Milliseconds 100
        }
    }

    It 'refuses a writer ending another identity''s session' {
        Start-RouterHostsEdit | Out-Null
        $wendy = Connect-RouterHostsAgent -ConfigPath $wendyConfig -NotDefault
        try {
            { Undo-RouterHostsEdit -Connection $wendy -Force -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'RouterHostsPermissionDenied,RouterHosts.Commands.UndoRouterHostsEditCommand'
            $Connection.HasEditSession | Should -BeTrue
        }
        finally { $wendy | Disconnect-RouterHostsAgent }
    }
}
