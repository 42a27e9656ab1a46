#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Pipelines as PowerShell users write them: Export-Csv/Import-Csv round trips, columns from
# ActiveDirectory and DnsServer, hosts named by hostname (also piped as strings), -WhatIf
# targets, streamed Set/Remove with progress, and what Ctrl+C says.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')

    # Runs a script in a child pwsh and returns everything it printed as text (What if:
    # lines and warnings written to the host, which Invoke-FreshPwsh's serialized output drops).
    function Invoke-PwshText([scriptblock] $ScriptBlock, [object[]] $ArgumentList) {
        $file = Join-Path $TestDrive "child-$([guid]::NewGuid().ToString('N')).ps1"
        Set-Content -LiteralPath $file -Value $ScriptBlock.ToString() -Encoding utf8NoBOM
        & $PwshPath -NoProfile -NonInteractive -File $file @ArgumentList 2>&1 | Out-String -Width 250
    }
}
AfterAll { Remove-TestSession }

Describe 'Export-Csv and Import-Csv round trip' {
    It 'writes Aliases and Tags as a;b and reads them back into Add-RouterHost' {
        Add-RouterHost 10.70.0.1 csv-one -Alias csv-one-a, csv-one-b -Tag csvtest, web -Comment 'with, comma'
        Add-RouterHost 10.70.0.2 csv-two -Tag csvtest
        $path = Join-Path $TestDrive 'roundtrip.csv'
        Get-RouterHost -Tag csvtest | Export-Csv -LiteralPath $path
        $text = Get-Content -LiteralPath $path -Raw
        $text | Should -Not -Match 'System\.String\[\]'
        $text | Should -Match '"csv-one-a;csv-one-b"'
        $text | Should -Match '"csvtest;web"'

        Get-RouterHost -Tag csvtest | Remove-RouterHost
        Import-Csv -LiteralPath $path | Add-RouterHost -ErrorAction Stop
        $one = Get-RouterHost csv-one
        $one.Aliases | Should -Be @('csv-one-a', 'csv-one-b')
        $one.Tags | Should -Be @('csvtest', 'web')
        $one.Comment | Should -Be 'with, comma'
        (Get-RouterHost csv-two).Tags | Should -Be @('csvtest')
    }

    It 'keeps the lists usable as lists' {
        $h = Get-RouterHost csv-one
        $h.Tags.Count | Should -Be 2
        $h.Tags[1] | Should -Be 'web'
        $h.Tags -contains 'csvtest' | Should -BeTrue
        ($h | ConvertTo-Json | ConvertFrom-Json).Aliases | Should -Be @('csv-one-a', 'csv-one-b')
    }

    It 'binds ActiveDirectory (IPv4Address, HostName) and DnsServer (RecordData, Name) columns' {
        'IPv4Address,HostName', '10.70.1.1,ad-style' | ConvertFrom-Csv | Add-RouterHost -ErrorAction Stop
        'RecordData,Name', '10.70.1.2,dns-style' | ConvertFrom-Csv | Add-RouterHost -ErrorAction Stop
        (Get-RouterHost ad-style).IPAddress | Should -Be '10.70.1.1'
        (Get-RouterHost dns-style).IPAddress | Should -Be '10.70.1.2'
    }

    It "gives a bad row's error the row itself as TargetObject" {
        $rows = 'ip,hostname', '10.70.2.1,row-good', 'not-an-ip,row-bad' | ConvertFrom-Csv
        $rows | Add-RouterHost -ErrorVariable bad -ErrorAction SilentlyContinue
        $bad.Count | Should -Be 1
        $bad[0].TargetObject | Should -Be $rows[1]
        $bad[0].TargetObject.hostname | Should -Be 'row-bad'
        Get-RouterHost row-good | Should -Not -BeNullOrEmpty
    }
}

Describe 'Hosts named by hostname' {
    BeforeAll {
        Add-RouterHost 10.71.0.5 name-web01 -Tag nametest
        Add-RouterHost 10.71.0.6 name-web02 -Tag nametest -Comment old
    }

    It 'takes strings piped by value as hostnames in Get-, Set- and Remove-RouterHost' {
        ('name-web02' | Get-RouterHost).IPAddress | Should -Be '10.71.0.6'
        'name-web02' | Set-RouterHost -Comment piped
        (Get-RouterHost name-web02).Comment | Should -Be 'piped'
        $temp = Add-RouterHost 10.71.0.7 name-temp -PassThru
        'name-temp' | Remove-RouterHost
        { Get-RouterHost -Id $temp.Id -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }

    It 'sets and renames by -Hostname; -NewHostname renames' {
        Set-RouterHost name-web01 -Comment 'by name' -NewHostname name-web01b
        (Get-RouterHost name-web01b).Comment | Should -Be 'by name'
        Set-RouterHost -Hostname name-web01b -NewHostname name-web01
        Get-RouterHost name-web01 | Should -Not -BeNullOrEmpty
    }

    It 'says which name matched nothing' {
        { Remove-RouterHost no-such-name -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.RemoveRouterHostCommand'
        { Set-RouterHost no-such-name -Comment x -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.SetRouterHostCommand'
    }

    It 'names each host "hostname (ip)" in -WhatIf, and Set lists only what changes' {
        $out = Invoke-PwshText -ArgumentList $RootManifest, $Agent.ClientConfig -ScriptBlock {
            param($manifest, $config)
            Import-Module $manifest
            Connect-RouterHostsAgent -ConfigPath $config
            Remove-RouterHost name-web01 -WhatIf
            Get-RouterHost -Tag nametest | ForEach-Object { [pscustomobject]@{ Id = $_.Id } } | Remove-RouterHost -WhatIf
            Set-RouterHost name-web02 -Comment piped -Tag nametest, more -IPAddress 10.71.0.6 -WhatIf
        }
        $out | Should -Match 'Performing the operation "Remove" on target "name-web01 \(10\.71\.0\.5\)"'
        $out | Should -Match 'target "name-web02 \(10\.71\.0\.6\)"'
        $out | Should -Not -Match 'target "id '
        $out | Should -Match 'Set Tags \[nametest\] -> \[nametest, more\]'
        $out | Should -Not -Match 'Comment'        # unchanged: not listed
        $out | Should -Not -Match 'IPAddress'      # unchanged: not listed
        Get-RouterHost name-web01 | Should -Not -BeNullOrEmpty
    }
}

Describe 'Streamed Set and Remove' {
    It 'removes 10,000 piped hosts over one call, with progress' {
        # A runspace of its own, so its progress records can be read.
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                param($manifest, $config)
                Import-Module $manifest
                Connect-RouterHostsAgent -ConfigPath $config
                1..10000 | ForEach-Object { [pscustomobject]@{ IPAddress = "10.72.$([math]::Floor($_ / 256)).$($_ % 256)"; Hostname = "bulk-$_"; Tags = 'bulktest' } } |
                    Add-RouterHost
                $set = Measure-Command { Get-RouterHost -Tag bulktest | Set-RouterHost -Comment 'bulk set' }
                $commented = @(Get-RouterHost -Tag bulktest | Where-Object Comment -EQ 'bulk set').Count
                $remove = Measure-Command { Get-RouterHost -Tag bulktest | Remove-RouterHost }
                [pscustomobject]@{ Set = $set; Commented = $commented; Remove = $remove; Left = @(Get-RouterHost -Tag bulktest).Count }
            }).AddArgument($RootManifest).AddArgument($Agent.ClientConfig)
            $result = $ps.Invoke()[0]
            $ps.Streams.Error | Should -BeNullOrEmpty
            $result.Commented | Should -Be 10000
            $result.Left | Should -Be 0
            Write-Host ("10,000 piped hosts: Set-RouterHost {0:N1} s, Remove-RouterHost {1:N1} s" -f $result.Set.TotalSeconds, $result.Remove.TotalSeconds)
            $result.Remove.TotalSeconds | Should -BeLessThan 60   # generous: minutes before streaming (one call per host)
            $activities = $ps.Streams.Progress | ForEach-Object Activity | Sort-Object -Unique
            $activities | Should -Contain "Removing hosts on $($Agent.Endpoint)"
            $activities | Should -Contain "Changing hosts on $($Agent.Endpoint)"
        }
        finally { $ps.Dispose() }
    }

    It 'writes one error per failed item and carries on' {
        $a = Add-RouterHost 10.73.0.1 stream-a -PassThru
        $b = Add-RouterHost 10.73.0.2 stream-b -PassThru
        Set-RouterHost -Id $b.Id -Comment moved-on       # $b is now stale
        $a, $b | Remove-RouterHost -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'RouterHostsVersionConflict,RouterHosts.Commands.RemoveRouterHostCommand'
        $failed[0].TargetObject.Hostname | Should -Be 'stream-b'
        Get-RouterHost stream-a -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-RouterHost stream-b | Should -Not -BeNullOrEmpty
    }

    It 'on Ctrl+C (StopProcessing) of a long Import-Csv | Add-RouterHost says what was added and that nothing later was sent' {
        $out = Invoke-PwshText -ArgumentList $RootManifest, $Agent.ClientConfig -ScriptBlock {
            param($manifest, $config)
            Import-Module $manifest
            Connect-RouterHostsAgent -ConfigPath $config
            # The stopped pipeline runs in a runspace that shares this host, as at a console.
            $runspace = [runspacefactory]::CreateRunspace($Host)
            $runspace.Open()
            $ps = [powershell]::Create()
            $ps.Runspace = $runspace
            $null = $ps.AddScript({
                param($manifest, $config)
                Import-Module $manifest
                Connect-RouterHostsAgent -ConfigPath $config
                1..200000 | ForEach-Object { [pscustomobject]@{ ip = "10.74.$([math]::Floor($_ / 256) % 256).$($_ % 256)"; hostname = "stop-$_"; tags = 'stoptest' } } |
                    Add-RouterHost
            }).AddArgument($manifest).AddArgument($config)
            $handle = $ps.BeginInvoke()
            while (@(Get-RouterHost -Tag stoptest -First 500).Count -lt 500) { Start-Sleep -Milliseconds 100 }
            $ps.Stop()
            "STATE $($ps.InvocationStateInfo.State)"
            "ADDED $(@(Get-RouterHost -Tag stoptest).Count)"
        }
        $out | Should -Match 'STATE Stopped'
        $out -match 'ADDED (\d+)' | Should -BeTrue
        $added = [int]$Matches[1]
        # The warning's counts must add up and bound what the agent really holds: answered
        # successes are added; items sent but unanswered when the grace ran out may or may not be.
        $flat = $out -replace '\s+', ' ' # in case the host wrapped the warning
        $flat -match 'Stopped: ([\d,]+) host\(s\) added and ([\d,]+) failed of the ([\d,]+) sent to [^;]+; (?:([\d,]+) sent but unanswered may or may not have been added; )?(?:([\d,]+) queued were not sent; )?no later input was sent' |
            Should -BeTrue -Because "the stop warning is in the output:`n$out"
        $number = { param($text) if ($text) { [int]($text -replace ',', '') } else { 0 } }
        $succeeded = & $number $Matches[1]
        $failed = & $number $Matches[2]
        $sent = & $number $Matches[3]
        $unanswered = & $number $Matches[4]
        $failed | Should -Be 0
        ($succeeded + $failed + $unanswered) | Should -Be $sent
        $added | Should -BeGreaterOrEqual $succeeded
        $added | Should -BeLessOrEqual ($succeeded + $unanswered)
        $added | Should -BeLessThan 200000
    }
}
