#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Snapshots: New-, Get-, Restore-, Remove-RouterHostsSnapshot.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Snapshots' {
    BeforeAll {
        Add-RouterHost 10.70.0.1 snap-keep -Tag snaptest
        Add-RouterHost 10.70.0.2 snap-gone -Tag snaptest
        Add-RouterHost 10.70.0.3 snap-changed -Tag snaptest -Comment 'old'
        $snapshot = New-RouterHostsSnapshot "snaptest-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
    }

    It 'creates a snapshot of the current hosts' {
        $snapshot | Should -BeOfType ([RouterHosts.RouterHostsSnapshot])
        $snapshot.Id | Should -Not -BeNullOrEmpty
        $snapshot.Trigger | Should -Be 'manual'
        $snapshot.EntryCount | Should -Be @(Get-RouterHost).Count
        New-RouterHostsSnapshot 'never' -WhatIf
        Get-RouterHostsSnapshot -Name 'never' | Should -BeNullOrEmpty
    }

    It 'lists snapshots by id, name pattern and page' {
        (Get-RouterHostsSnapshot -Id $snapshot.Id).Name | Should -Be $snapshot.Name
        (Get-RouterHostsSnapshot $snapshot.Id).Id | Should -Be $snapshot.Id
        (Get-RouterHostsSnapshot -Name 'snaptest-*').Id | Should -Contain $snapshot.Id
        @(Get-RouterHostsSnapshot -First 1).Count | Should -Be 1
        @(Get-RouterHostsSnapshot).Id | Should -Contain $snapshot.Id
        { Get-RouterHostsSnapshot -Id 01ZZZZZZZZZZZZZZZZZZZZZZZZ -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsSnapshotNotFound,RouterHosts.Commands.GetRouterHostsSnapshotCommand'
    }

    It 'says with -WhatIf what a restore would change, and changes nothing' {
        Get-RouterHost snap-gone | Remove-RouterHost -Confirm:$false
        Get-RouterHost snap-changed | Set-RouterHost -Comment 'new'
        Add-RouterHost 10.70.0.4 snap-new -Tag snaptest
        $before = @(Get-RouterHost | Sort-Object Id | ForEach-Object { "$($_.Id) $($_.Version)" })

        $transcript = Join-Path $TestDrive 'whatif-transcript.txt'
        Start-Transcript -LiteralPath $transcript | Out-Null
        try { Restore-RouterHostsSnapshot -Id $snapshot.Id -WhatIf } finally { Stop-Transcript | Out-Null }
        $text = Get-Content -LiteralPath $transcript -Raw
        $text | Should -Match 'What if: Restoring snapshot'
        $text | Should -Match '\+ snap-gone \(10\.70\.0\.2\)'
        $text | Should -Match '- snap-new \(10\.70\.0\.4\)'
        $text | Should -Match "~ snap-changed \(10\.70\.0\.3\): Comment 'new' -> 'old'"

        @(Get-RouterHost | Sort-Object Id | ForEach-Object { "$($_.Id) $($_.Version)" }) | Should -Be $before
    }

    It 'restores the snapshot after taking a backup, from -Id or the pipeline' {
        $result = Restore-RouterHostsSnapshot -Id $snapshot.Id -Confirm:$false -PassThru
        $result | Should -BeOfType ([RouterHosts.RouterHostsRestoreResult])
        $result.RestoredEntryCount | Should -Be $snapshot.EntryCount
        (Get-RouterHost snap-gone).IPAddress | Should -Be '10.70.0.2'
        (Get-RouterHost snap-changed).Comment | Should -Be 'old'
        Get-RouterHost -Hostname snap-new | Should -BeNullOrEmpty
        $backup = Get-RouterHostsSnapshot -Id $result.BackupSnapshotId
        $backup | Should -Not -BeNullOrEmpty

        Get-RouterHostsSnapshot -Id $backup.Id | Restore-RouterHostsSnapshot -Confirm:$false
        (Get-RouterHost snap-new).IPAddress | Should -Be '10.70.0.4'
        Restore-RouterHostsSnapshot -Id $snapshot.Id -Confirm:$false | Should -BeNullOrEmpty
    }

    It 'removes snapshots, not with -WhatIf, and reports unknown ones' {
        $doomed = New-RouterHostsSnapshot 'doomed'
        $doomed | Remove-RouterHostsSnapshot -WhatIf
        Get-RouterHostsSnapshot -Id $doomed.Id | Should -Not -BeNullOrEmpty
        $doomed | Remove-RouterHostsSnapshot -Confirm:$false
        { Get-RouterHostsSnapshot -Id $doomed.Id -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsSnapshotNotFound,RouterHosts.Commands.GetRouterHostsSnapshotCommand'
        { Remove-RouterHostsSnapshot -Id $doomed.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsSnapshotNotFound,RouterHosts.Commands.RemoveRouterHostsSnapshotCommand'
        { Restore-RouterHostsSnapshot -Id $doomed.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsSnapshotNotFound,RouterHosts.Commands.RestoreRouterHostsSnapshotCommand'
    }
}
