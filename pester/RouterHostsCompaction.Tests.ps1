#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Invoke-RouterHostsCompaction and Import-RouterHost -SkipInvalid (issue 15).
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Invoke-RouterHostsCompaction' {
    BeforeAll {
        $script:target = Add-RouterHost 10.90.0.1 cmp-web01 -PassThru
        Set-RouterHost -Id $target.Id -Comment 'two'
        $script:between = [DateTime]::UtcNow
        Set-RouterHost -Id $target.Id -Comment 'three'
    }

    It '-WhatIf folds nothing' {
        Invoke-RouterHostsCompaction -Id $target.Id -WhatIf | Should -BeNullOrEmpty
        (Get-RouterHostHistory -Id $target.Id).EventType | Should -Be @('created', 'updated', 'updated')
        (Get-RouterHost -Id $target.Id -AsOf $between).Comment | Should -Be 'two'
    }

    It 'folds a piped host into one baseline and refuses -AsOf before the horizon' {
        $result = Get-RouterHost -Id $target.Id | Invoke-RouterHostsCompaction -Confirm:$false
        $result | Should -BeOfType ([RouterHosts.RouterHostsCompaction])
        $result.HostId | Should -Be $target.Id
        $result.EventsBefore | Should -Be 3
        $result.EventsAfter | Should -Be 1
        $result.EventsReclaimed | Should -Be 2

        $history = @(Get-RouterHostHistory -Id $target.Id)
        $history.Count | Should -Be 1
        $history[0].EventType | Should -Be 'baseline'
        $history[0].FoldedEvents | Should -Be 3
        $history[0].Host.Comment | Should -Be 'three'
        $history[0].Horizon | Should -Be $result.Horizon

        { Get-RouterHost -Id $target.Id -AsOf $between -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsBeforeCompactionHorizon,RouterHosts.Commands.GetRouterHostCommand'
        (Get-RouterHost -Id $target.Id).Comment | Should -Be 'three'
    }

    It 'with -Before in the past folds only what is older, and says nothing when nothing is' {
        Invoke-RouterHostsCompaction -Before (Get-Date).AddDays(-1) -Confirm:$false | Should -BeNullOrEmpty
        Set-RouterHost -Id $target.Id -Comment 'four'
        (Get-RouterHostHistory -Id $target.Id).EventType | Should -Be @('baseline', 'updated')
    }

    It 'refuses a horizon in the future and a malformed id, naming them' {
        { Invoke-RouterHostsCompaction -Before (Get-Date).AddDays(1) -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsInvalidArgument,RouterHosts.Commands.InvokeRouterHostsCompactionCommand'
        { Invoke-RouterHostsCompaction -Id not-a-ulid -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*'not-a-ulid'*"
    }

    It 'is in the module with help' {
        (Get-Command Invoke-RouterHostsCompaction).Parameters.Keys | Should -Contain 'OverEventCount'
        (Get-Help Invoke-RouterHostsCompaction).Synopsis | Should -Match 'baseline'
    }
}

Describe 'Import-RouterHost -SkipInvalid' {
    BeforeAll {
        $script:file = Join-Path $TestDrive 'mixed.hosts'
        Set-Content -LiteralPath $file -Encoding utf8NoBOM -Value @(
            '10.91.0.1 skp-one skp-one-alias # first [skptest, lab]'
            '10.91.0.2'
            'not-an-ip skp-bad'
            '10.91.0.3 skp-two # [skptest]'
        )
    }

    It 'without it imports nothing and names every bad line' {
        { Import-RouterHost -Path $file -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsImportInvalid,RouterHosts.Commands.ImportRouterHostCommand'
        Get-RouterHost -Tag skptest | Should -BeNullOrEmpty
    }

    It 'with it imports the valid lines and warns about each invalid one' {
        $result = Import-RouterHost -Path $file -SkipInvalid -PassThru -WarningVariable warnings -WarningAction SilentlyContinue
        $result.Created | Should -Be 2
        $result.Failed | Should -Be 2
        $result.FailedLines[0] | Should -BeLike 'line 2:*'
        $result.FailedLines[1] | Should -BeLike "line 3: invalid ip_address 'not-an-ip'*"
        $warnings.Count | Should -Be 2
        "$($warnings[0])" | Should -BeLike '*line 2:*'
        $imported = Get-RouterHost -Tag skptest
        $imported.Hostname | Should -Be @('skp-one', 'skp-two')
        ($imported | Where-Object Hostname -EQ 'skp-one').Comment | Should -Be 'first'
        ($imported | Where-Object Hostname -EQ 'skp-one').Aliases | Should -Be @('skp-one-alias')
    }
}
