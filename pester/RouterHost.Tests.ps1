#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Add-, Get-, Set-, Remove-RouterHost, Get-RouterHostHistory and Watch-RouterHost, including the Import-Csv pipeline.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Add-RouterHost' {
    It 'adds a host with every field and writes nothing without -PassThru' {
        Add-RouterHost -IPAddress 10.10.0.1 -Hostname add-one -Alias add-one-a, add-one-b -Tag addtest, web -Comment 'front end' | Should -BeNullOrEmpty
        $h = Get-RouterHost -Hostname add-one
        $h.IPAddress | Should -Be '10.10.0.1'
        $h.Aliases | Should -Be @('add-one-a', 'add-one-b')
        $h.Tags | Should -Contain 'addtest'
        $h.Tags | Should -Contain 'web'
        $h.Comment | Should -Be 'front end'
        $h.Version | Should -Not -BeNullOrEmpty
        (Get-Content -LiteralPath $Agent.HostsFile -Raw) | Should -Match '10\.10\.0\.1\s+add-one'
    }

    It 'takes the address and name by position and -PassThru writes RouterHost objects' {
        $h = Add-RouterHost 10.10.0.2 add-two -PassThru
        $h | Should -BeOfType ([RouterHosts.RouterHost])
        $h.Hostname | Should -Be 'add-two'
        $h.Id | Should -Not -BeNullOrEmpty
    }

    It 'accepts lists as arrays or as strings separated by ; or ,' {
        $a = Add-RouterHost 10.10.0.3 add-lists -Tag 'x1;x2' -Alias 'al1,al2' -PassThru
        $a.Tags | Should -Be @('x1', 'x2')
        $a.Aliases | Should -Be @('al1', 'al2')
    }

    It 'adds nothing with -WhatIf' {
        Add-RouterHost 10.10.0.4 add-whatif -WhatIf
        { Get-RouterHost -Hostname add-whatif -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }

    It 'reports a duplicate as RouterHostAlreadyExists, non-terminating' {
        $errors = @()
        Add-RouterHost 10.10.0.1 add-one -ErrorVariable errors -ErrorAction SilentlyContinue
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'RouterHostAlreadyExists,RouterHosts.Commands.AddRouterHostCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        { Add-RouterHost 10.10.0.1 add-one -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostAlreadyExists,RouterHosts.Commands.AddRouterHostCommand'
    }

    Context 'Import-Csv | Add-RouterHost' {
        It 'adds the good rows and gives one non-terminating error, targeting the row, for the bad one' {
            $csv = New-Csv 'hosts.csv' @(
                'ip,hostname,tags,aliases,comment'
                '10.11.0.1,csv-web01,csvtest;web,www1,front end'
                '10.11.0.2,csv-db01,"csvtest,db",,database'
                'not-an-ip,csv-bad,csvtest,,broken'
                '10.11.0.4,csv-app01,csvtest,"app,app1",'
            )
            $errors = @()
            $added = Import-Csv -LiteralPath $csv | Add-RouterHost -PassThru -ErrorVariable errors -ErrorAction SilentlyContinue
            @($added).Count | Should -Be 3
            @($added.Hostname) | Should -Be @('csv-web01', 'csv-db01', 'csv-app01')
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -Be 'RouterHostsInvalidArgument,RouterHosts.Commands.AddRouterHostCommand'
            $errors[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            $errors[0].TargetObject.Hostname | Should -Be 'csv-bad'
            $errors[0].TargetObject.IPAddress | Should -Be 'not-an-ip'

            $web = Get-RouterHost -Hostname csv-web01
            $web.Tags | Should -Be @('csvtest', 'web')
            $web.Aliases | Should -Be @('www1')
            $web.Comment | Should -Be 'front end'
            (Get-RouterHost -Hostname csv-db01).Tags | Should -Be @('csvtest', 'db')
            (Get-RouterHost -Hostname csv-app01).Aliases | Should -Be @('app', 'app1')
            (Get-RouterHost -Hostname csv-app01).Comment | Should -BeNullOrEmpty
            @(Get-RouterHost -Tag csvtest).Count | Should -Be 3
        }

        It 'binds the usual header names: <Header>' -ForEach @(
            @{ Header = 'ip_address,hostname'; Ip = '10.12.0.1'; Name = 'hdr-one' }
            @{ Header = 'IPAddress,Name'; Ip = '10.12.0.2'; Name = 'hdr-two' }
            @{ Header = 'Address,Host'; Ip = '10.12.0.3'; Name = 'hdr-three' }
            @{ Header = 'IP,HostName'; Ip = '10.12.0.4'; Name = 'hdr-four' }
        ) {
            $csv = New-Csv "header-$Name.csv" @($Header, "$Ip,$Name")
            Import-Csv -LiteralPath $csv | Add-RouterHost -ErrorAction Stop
            (Get-RouterHost -Hostname $Name).IPAddress | Should -Be $Ip
        }

        It 'streams a long pipeline over one call, in order, with every row added' {
            $rows = 1..300 | ForEach-Object { [pscustomobject]@{ ip = "10.13.$([int][math]::Floor($_ / 250)).$($_ % 250 + 1)"; hostname = ('bulk{0:000}' -f $_); tags = 'bulktest' } }
            $added = $rows | Add-RouterHost -PassThru -ErrorAction Stop
            @($added).Count | Should -Be 300
            @($added.Hostname) | Should -Be @($rows.hostname)
            @(Get-RouterHost -Tag bulktest).Count | Should -Be 300
        }

        It 'adds nothing with -WhatIf' {
            $csv = New-Csv 'whatif.csv' @('ip,hostname', '10.14.0.1,csv-whatif1', '10.14.0.2,csv-whatif2')
            Import-Csv -LiteralPath $csv | Add-RouterHost -WhatIf
            Get-RouterHost -Hostname 'csv-whatif*' | Should -BeNullOrEmpty
        }
    }

    It 'takes RouterHost objects by property name (Tags, Aliases, Comment)' {
        $copies = Get-RouterHost -Hostname csv-web01 |
            Select-Object @{ n = 'IPAddress'; e = { '10.15.0.1' } }, @{ n = 'Hostname'; e = { 'copy-web01' } }, Tags, Aliases, Comment |
            Add-RouterHost -PassThru
        $copies.Tags | Should -Be @('csvtest', 'web')
        $copies.Aliases | Should -Be @('www1')
        $copies.Comment | Should -Be 'front end'
    }
}

Describe 'Get-RouterHost' {
    BeforeAll {
        $g1 = Add-RouterHost 10.20.0.1 get-web01 -Alias get-www -Tag gettest, web -Comment 'alpha' -PassThru
        $g2 = Add-RouterHost 10.20.0.2 get-web02 -Tag gettest, web -PassThru
        $g3 = Add-RouterHost 10.20.0.3 get-db01 -Tag gettest, db -Comment 'needle in here' -PassThru
    }

    It 'gets by literal hostname, by wildcard, and by alias' {
        (Get-RouterHost get-web01).Id | Should -Be $g1.Id
        @(Get-RouterHost -Hostname 'get-web*').Count | Should -Be 2
        @(Get-RouterHost -Hostname 'GET-WEB0?').Count | Should -Be 2
        (Get-RouterHost -Hostname get-www).Id | Should -Be $g1.Id
        @(Get-RouterHost -Hostname get-web01, get-db01).Count | Should -Be 2
    }

    It 'filters by IP address, tag and text' {
        (Get-RouterHost -IPAddress 10.20.0.2).Hostname | Should -Be 'get-web02'
        @(Get-RouterHost -Tag gettest).Count | Should -Be 3
        @(Get-RouterHost -Tag gettest -Hostname '*web*').Count | Should -Be 2
        (Get-RouterHost -Search needle).Hostname | Should -Be 'get-db01'
        Get-RouterHost -Tag no-such-tag | Should -BeNullOrEmpty
    }

    It 'pages with -First and -Skip' {
        $all = @(Get-RouterHost -Tag gettest)
        @(Get-RouterHost -Tag gettest -First 2).Count | Should -Be 2
        (Get-RouterHost -Tag gettest -Skip 1 -First 1).Id | Should -Be $all[1].Id
    }

    It 'gets by -Id, also from the pipeline by property name' {
        (Get-RouterHost -Id $g2.Id).Hostname | Should -Be 'get-web02'
        @($g1, $g3 | Get-RouterHost).Hostname | Should -Be @('get-web01', 'get-db01')
        [pscustomobject]@{ Id = $g3.Id } | Get-RouterHost | ForEach-Object Hostname | Should -Be 'get-db01'
    }

    It 'gives a non-terminating RouterHostNotFound for a literal name or id that matches nothing, and silence for a wildcard' {
        $errors = @()
        $found = Get-RouterHost -Hostname get-nothing, get-web01 -ErrorVariable errors -ErrorAction SilentlyContinue
        $found.Hostname | Should -Be 'get-web01'
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errors[0].TargetObject | Should -Be 'get-nothing'
        { Get-RouterHost -Id 01ZZZZZZZZZZZZZZZZZZZZZZZZ -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
        $errors = @()
        Get-RouterHost -Hostname 'get-none*' -ErrorVariable errors | Should -BeNullOrEmpty
        $errors.Count | Should -Be 0
    }

    It 'shows a host as it was at a past time with -AsOf' {
        $h = Add-RouterHost 10.20.0.9 get-asof -Comment 'before' -PassThru
        Start-Sleep -Milliseconds 1100
        $middle = Get-Date
        Start-Sleep -Milliseconds 1100
        $h | Set-RouterHost -Comment 'after'
        (Get-RouterHost -Id $h.Id).Comment | Should -Be 'after'
        (Get-RouterHost -Id $h.Id -AsOf $middle).Comment | Should -Be 'before'
        (Get-RouterHost -Hostname get-asof -AsOf $middle).Comment | Should -Be 'before'
    }

    It 'formats as a table of hostname, address, aliases, tags and comment' {
        $text = Get-RouterHost -Tag gettest | Format-Table | Out-String -Width 120
        foreach ($header in 'Hostname', 'IPAddress', 'Aliases', 'Tags', 'Comment') { $text | Should -Match $header }
        $text | Should -Match 'get-www'
        $text | Should -Match 'gettest, web'
    }
}

Describe 'Set-RouterHost' {
    BeforeEach {
        $name = 'set-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $h = Add-RouterHost 10.30.0.1 $name -Alias "$name-a" -Tag settest, keep -Comment 'original' -PassThru
    }

    It 'changes only the fields given' {
        Set-RouterHost -Id $h.Id -Comment 'changed'
        $after = Get-RouterHost -Id $h.Id
        $after.Comment | Should -Be 'changed'
        $after.Tags | Should -Be @('settest', 'keep')
        $after.Aliases | Should -Be @("$name-a")
        $after.IPAddress | Should -Be '10.30.0.1'
        [int]$after.Version | Should -BeGreaterThan ([int]$h.Version)
    }

    It 'changes a piped host and -PassThru writes the result' {
        $changed = Get-RouterHost -Id $h.Id | Set-RouterHost -IPAddress 10.30.0.2 -Tag 'settest;moved' -PassThru
        $changed.IPAddress | Should -Be '10.30.0.2'
        $changed.Tags | Should -Be @('settest', 'moved')
        Set-RouterHost -Id $h.Id -Comment x | Should -BeNullOrEmpty
    }

    It 'clears the comment with an empty string and a list with an empty array' {
        Set-RouterHost -Id $h.Id -Comment '' -Alias @()
        $after = Get-RouterHost -Id $h.Id
        $after.Comment | Should -BeNullOrEmpty
        $after.Aliases | Should -BeNullOrEmpty
        $after.Tags | Should -Be @('settest', 'keep')
    }

    It 'refuses a stale piped host with RouterHostsVersionConflict' {
        $stale = Get-RouterHost -Id $h.Id
        Set-RouterHost -Id $h.Id -Comment 'someone else'
        { $stale | Set-RouterHost -Comment 'mine' -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsVersionConflict,RouterHosts.Commands.SetRouterHostCommand'
        { Set-RouterHost -Id $h.Id -Comment 'mine' -ExpectedVersion $stale.Version -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsVersionConflict,RouterHosts.Commands.SetRouterHostCommand'
        (Get-RouterHost -Id $h.Id).Comment | Should -Be 'someone else'
        $current = Get-RouterHost -Id $h.Id
        Set-RouterHost -Id $h.Id -Comment 'mine' -ExpectedVersion $current.Version
        (Get-RouterHost -Id $h.Id).Comment | Should -Be 'mine'
    }

    It 'takes CSV rows with an id column by property name' {
        [pscustomobject]@{ Id = $h.Id; Comment = 'from csv'; Tags = 'a;b' } | Set-RouterHost -ErrorAction Stop
        $after = Get-RouterHost -Id $h.Id
        $after.Comment | Should -Be 'from csv'
        $after.Tags | Should -Be @('a', 'b')
    }

    It 'changes nothing with -WhatIf' {
        Get-RouterHost -Id $h.Id | Set-RouterHost -Comment 'never' -WhatIf
        (Get-RouterHost -Id $h.Id).Comment | Should -Be 'original'
    }

    It 'reports nothing to change, and unknown ids' {
        { Set-RouterHost -Id $h.Id -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsNothingToSet,RouterHosts.Commands.SetRouterHostCommand'
        { Set-RouterHost -Id 01ZZZZZZZZZZZZZZZZZZZZZZZZ -Comment x -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.SetRouterHostCommand'
    }
}

Describe 'Remove-RouterHost' {
    BeforeEach {
        Get-RouterHost -Tag rmtest | Remove-RouterHost -Confirm:$false
        1..3 | ForEach-Object { Add-RouterHost "10.40.0.$_" "rm-$_" -Tag rmtest }
    }

    It 'removes nothing with -WhatIf' {
        Get-RouterHost -Tag rmtest | Remove-RouterHost -WhatIf
        @(Get-RouterHost -Tag rmtest).Count | Should -Be 3
    }

    It 'removes every piped host' {
        Get-RouterHost -Tag rmtest | Remove-RouterHost -Confirm:$false | Should -BeNullOrEmpty
        Get-RouterHost -Tag rmtest | Should -BeNullOrEmpty
        (Get-Content -LiteralPath $Agent.HostsFile -Raw) | Should -Not -Match 'rm-1'
    }

    It 'removes by id, and reports unknown ids and stale hosts' {
        $one = Get-RouterHost rm-1
        Remove-RouterHost -Id $one.Id -Confirm:$false
        { Get-RouterHost -Id $one.Id -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
        { Remove-RouterHost -Id $one.Id -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.RemoveRouterHostCommand'
        $stale = Get-RouterHost rm-2
        Set-RouterHost -Id $stale.Id -Comment changed
        { $stale | Remove-RouterHost -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsVersionConflict,RouterHosts.Commands.RemoveRouterHostCommand'
        Get-RouterHost rm-2 | Should -Not -BeNullOrEmpty
    }
}

Describe 'Get-RouterHostHistory' {
    It 'lists the events of a host, oldest first' {
        $h = Add-RouterHost 10.45.0.1 hist-one -PassThru
        $h | Set-RouterHost -Comment 'second'
        $history = @(Get-RouterHost hist-one | Get-RouterHostHistory)
        $history.Count | Should -Be 2
        $history[0] | Should -BeOfType ([RouterHosts.RouterHostHistoryEntry])
        $history.EventType | Should -Be @('created', 'updated')
        $history[1].Host.Comment | Should -Be 'second'
        $history[0].HostId | Should -Be $h.Id
        { Get-RouterHostHistory -Id 01ZZZZZZZZZZZZZZZZZZZZZZZZ -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostHistoryCommand'
    }
}

Describe 'Watch-RouterHost' {
    It 'writes the current set with -Count 1' {
        $change = Watch-RouterHost -Count 1
        $change | Should -BeOfType ([RouterHosts.RouterHostsChange])
        $change.Count | Should -Be @(Get-RouterHost).Count
    }

    It 'follows changes' {
        $job = Start-ThreadJob -ArgumentList $RootManifest, $Connection -ScriptBlock {
            param($manifest, $connection)
            Import-Module $manifest
            Watch-RouterHost -Connection $connection -Count 2
        }
        try {
            # Keep changing things until the watcher has seen a change after its first set
            # (it may take a moment to import the module and open its stream).
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            $i = 0
            while ($job.State -in 'NotStarted', 'Running' -and [DateTime]::UtcNow -lt $deadline) {
                Start-Sleep -Seconds 1
                $i++
                Add-RouterHost "10.80.0.$i" "watch-new$i"
            }
            $job.State | Should -Be 'Completed' -Because "the watcher should have seen a change: $($job.ChildJobs.Error)"
            $sets = @(Receive-Job -Job $job -ErrorAction Stop)
            $sets.Count | Should -Be 2
            $sets[0] | Should -BeOfType ([RouterHosts.RouterHostsChange])
            @($sets[1].Hosts.Hostname -like 'watch-new*').Count | Should -BeGreaterThan @($sets[0].Hosts.Hostname -like 'watch-new*').Count
        }
        finally { Remove-Job -Job $job -Force }
    }

    It 'stops at once on Ctrl+C (StopProcessing cancels the call)' {
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $runspace
        try {
            $null = $ps.AddScript('param($manifest, $connection) Import-Module $manifest; Watch-RouterHost -Connection $connection').
                AddArgument($RootManifest).AddArgument($Connection)
            $async = $ps.BeginInvoke()
            Start-Sleep -Seconds 3
            $ps.InvocationStateInfo.State | Should -Be 'Running'
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 5
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        }
        finally {
            $ps.Dispose()
            $runspace.Dispose()
        }
    }
}
