#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Inside an edit session, Staged marks only what the session added or changed.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Staged inside an edit session' {
    It 'is true only for hosts added or changed in the session, in every read' {
        Add-RouterHost 10.90.0.1 staged-untouched -Tag stagedtest
        Add-RouterHost 10.90.0.2 staged-changed -Tag stagedtest
        Start-RouterHostsEdit
        try {
            Set-RouterHost staged-changed -Comment 'in the session'
            Add-RouterHost 10.90.0.3 staged-added -Tag stagedtest
            $listed = @{}
            Get-RouterHost -Tag stagedtest | ForEach-Object { $listed[$_.Hostname] = $_.Staged }
            $listed['staged-untouched'] | Should -BeFalse
            $listed['staged-changed'] | Should -BeTrue
            $listed['staged-added'] | Should -BeTrue
            (Get-RouterHost -Id (Get-RouterHost staged-untouched).Id).Staged | Should -BeFalse
            (Get-RouterHost -Search staged-changed).Staged | Should -BeTrue
            (Get-RouterHost staged-added).Staged | Should -BeTrue
        }
        finally { Undo-RouterHostsEdit -Confirm:$false }
        @(Get-RouterHost -Tag stagedtest | Where-Object Staged).Count | Should -Be 0
    }
}
