#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Drift of the hosts file: Get-RouterHostsDrift and Repair-RouterHostsFile.
# Against real agents: the --dev one of TestSetup.ps1 (hosts_file.drift restore, the default)
# and one started here from a configuration file with hosts_file.drift report. Hand edits are
# made by real processes (sed -i, /bin/sh); the tests poll real state, never sleep a fixed time.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')

    # Polls until the script block returns something truthy; fails with what it last saw.
    function Wait-Until([scriptblock] $Condition, [string] $What, [int] $TimeoutSec = 60) {
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        while (-not ($result = & $Condition)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "not within $TimeoutSec s: $What" }
            Start-Sleep -Milliseconds 50
        }
        $result
    }

    # A second agent, from a configuration file: the --dev agent's certificates, its own database and hosts file, report mode.
    $reportDir = Join-Path $TestDrive 'report'
    $null = New-Item -ItemType Directory -Path $reportDir -Force
    $reportPort = Get-FreePort
    $reportHosts = Join-Path $reportDir 'hosts'
    Set-Content -LiteralPath $reportHosts -Value "127.0.0.1`tlocalhost" -NoNewline:$false
    $config = Join-Path $reportDir 'agent.json'
    @{
        listen     = @("127.0.0.1:$reportPort")
        tls        = @{ certificate = (Join-Path $Agent.Pki 'server.crt'); key = (Join-Path $Agent.Pki 'server.key'); ca = (Join-Path $Agent.Pki 'ca.crt') }
        database   = (Join-Path $reportDir 'hosts.db')
        hosts_file = @{ path = $reportHosts; mode = 'block'; drift = 'report' }
    } | ConvertTo-Json -Depth 4 | Set-Content -LiteralPath $config
    chmod 0600 $config
    $ReportAgent = Start-TestAgent -Name 'report' -ConfigPath $config
    $ReportAgent.HostsFile = $reportHosts
    $Report = Connect-RouterHostsAgent -Endpoint "127.0.0.1:$reportPort" -CertificatePath (Join-Path $Agent.Pki 'client.crt') `
        -KeyPath (Join-Path $Agent.Pki 'client.key') -CaPath (Join-Path $Agent.Pki 'ca.crt') -ServerName localhost -NotDefault
    Wait-TestAgent -Agent $ReportAgent -Connection $Report
}

AfterAll {
    Stop-TestAgent $ReportAgent
    Remove-TestSession
}

Describe 'Get-RouterHostsDrift' {
    It 'says clean before any hand edit' {
        Add-RouterHost 10.80.0.1 drift-web01
        $drift = Get-RouterHostsDrift
        $drift | Should -BeOfType ([RouterHosts.RouterHostsDrift])
        $drift.State | Should -Be 'clean'
        $drift.Drifted | Should -BeFalse
        $drift.Policy | Should -Be 'restore'
        $drift.DetectedAt | Should -BeNullOrEmpty
        $drift.Diff | Should -BeNullOrEmpty
    }

    It 'shows the diff of a hand edit the agent put back' {
        sed -i 's/^10\.80\.0\.1\tdrift-web01$/10.80.0.1\tdrift-web01-by-hand/' $Agent.HostsFile
        $LASTEXITCODE | Should -Be 0
        Wait-Until { (Get-Content -LiteralPath $Agent.HostsFile -Raw) -match "(?m)^10\.80\.0\.1\tdrift-web01$" } 'the block put back' | Out-Null
        $drift = Get-RouterHostsDrift
        $drift.State | Should -Be 'clean'
        $drift.Action | Should -Be 'restored'
        $drift.Kinds | Should -Contain 'block-changed'
        $drift.Diff | Should -Be @("- 10.80.0.1`tdrift-web01", "+ 10.80.0.1`tdrift-web01-by-hand")
        $drift.DetectedAt | Should -BeOfType ([DateTimeOffset])
        (Get-RouterHostsAgent).HostsFileDrift | Should -Be 'clean'
    }

    It 'is admin only' {
        $issued = dotnet $AgentDll pki issue-client --dir $Agent.Pki --name rita --role reader --endpoint $Agent.Endpoint
        $LASTEXITCODE | Should -Be 0 -Because ($issued -join "`n")
        $reader = Connect-RouterHostsAgent -ConfigPath (Join-Path $Agent.Pki 'clients' 'rita' 'client.json') -NotDefault
        @(Get-RouterHost -Connection $reader).Count | Should -BeGreaterThan 0
        { Get-RouterHostsDrift -Connection $reader } |
            Should -Throw -ErrorId 'RouterHostsPermissionDenied,RouterHosts.Commands.GetRouterHostsDriftCommand'
        { Repair-RouterHostsFile -Connection $reader -Confirm:$false } |
            Should -Throw -ErrorId 'RouterHostsPermissionDenied,RouterHosts.Commands.RepairRouterHostsFileCommand'
    }
}

Describe 'Repair-RouterHostsFile' {
    BeforeAll {
        Add-RouterHost 10.81.0.1 rep-web01 -Connection $Report
        Add-RouterHost 10.81.0.2 rep-web02 -Connection $Report
        function Edit-ReportFile([string] $Script) {
            sed -i $Script $ReportAgent.HostsFile
            $LASTEXITCODE | Should -Be 0
            Wait-Until { (Get-RouterHostsAgent -Connection $Report).HostsFileDrift -eq 'drifted' } 'Health says drifted' | Out-Null
        }
    }

    It 'reports a hand edit in report mode and leaves the file alone' {
        Edit-ReportFile 's/^10\.81\.0\.2\trep-web02$/10.81.0.2\trep-web02-hand/'
        $drift = Get-RouterHostsDrift -Connection $Report
        $drift.Drifted | Should -BeTrue
        $drift.Action | Should -Be 'reported'
        $drift.Diff | Should -Be @("- 10.81.0.2`trep-web02", "+ 10.81.0.2`trep-web02-hand")
        Get-Content -LiteralPath $ReportAgent.HostsFile -Raw | Should -Match 'rep-web02-hand'
    }

    It 'is sent on Watch-RouterHost -IncludeDrift' {
        $job = Start-ThreadJob -ArgumentList $RootManifest, $Report.Target, $Agent.Pki -ScriptBlock {
            param($Manifest, $Endpoint, $Pki)
            Import-Module $Manifest
            $c = Connect-RouterHostsAgent -Endpoint $Endpoint -CertificatePath (Join-Path $Pki 'client.crt') -KeyPath (Join-Path $Pki 'client.key') `
                -CaPath (Join-Path $Pki 'ca.crt') -ServerName localhost -NotDefault -PassThru
            Watch-RouterHost -IncludeDrift -Connection $c | Select-Object -First 2
        }
        try {
            Wait-Until { @(Receive-Job $job -Keep).Count -ge 1 -or $job.State -in 'Completed', 'Failed', 'Stopped' } 'the first set on Watch' | Out-Null
            if ($job.State -in 'Completed', 'Failed', 'Stopped' -and @(Receive-Job $job -Keep).Count -eq 0) { throw "the watch ended ($($job.State)): $($job.ChildJobs[0].JobStateInfo.Reason) $($job.ChildJobs[0].Error)" }
            @(Receive-Job $job -Keep)[0] | Should -BeOfType ([RouterHosts.RouterHostsChange])
            sed -i 's/^10\.81\.0\.1\trep-web01$/10.81.0.1\trep-web01-hand/' $ReportAgent.HostsFile
            Wait-Until { @(Receive-Job $job -Keep).Count -ge 2 -or $job.State -in 'Completed', 'Failed', 'Stopped' } 'the drift on Watch' | Out-Null
            $drift = @(Receive-Job $job -Keep)[1]
            $drift | Should -BeOfType ([RouterHosts.RouterHostsDrift])
            $drift.Action | Should -Be 'reported'
            $drift.Diff | Should -Contain "+ 10.81.0.2`trep-web02-hand"
            $drift.Diff | Should -Contain "+ 10.81.0.1`trep-web01-hand"
        }
        finally { $job | Remove-Job -Force }
        sed -i 's/^10\.81\.0\.1\trep-web01-hand$/10.81.0.1\trep-web01/' $ReportAgent.HostsFile
        Wait-Until { (Get-RouterHostsDrift -Connection $Report).Diff -notcontains "+ 10.81.0.1`trep-web01-hand" } 'back to the first drift' | Out-Null
    }

    It 'says with -WhatIf what a restore and an adoption would do, and changes nothing' {
        $transcript = Join-Path $TestDrive 'repair-whatif.txt'
        Start-Transcript -LiteralPath $transcript | Out-Null
        try {
            Repair-RouterHostsFile -Connection $Report -WhatIf
            Repair-RouterHostsFile -Connection $Report -Adopt -WhatIf
        }
        finally { Stop-Transcript | Out-Null }
        $text = Get-Content -LiteralPath $transcript -Raw
        $text | Should -Match 'What if: Restoring the hosts file on 127\.0\.0\.1:\d+: 2 line\(s\)'
        $text | Should -Match "What if: Adopting the hand edits of the hosts file"
        $text | Should -Match "\+ 10\.81\.0\.2\trep-web02-hand"
        $text | Should -Match "- 10\.81\.0\.2\trep-web02"
        Get-Content -LiteralPath $ReportAgent.HostsFile -Raw | Should -Match 'rep-web02-hand'
        (Get-RouterHost -Connection $Report).Hostname | Should -Be @('rep-web01', 'rep-web02')
        (Get-RouterHostsDrift -Connection $Report).Drifted | Should -BeTrue
    }

    It 'restores the file from the database' {
        $result = Repair-RouterHostsFile -Connection $Report -Confirm:$false -PassThru
        $result | Should -BeOfType ([RouterHosts.RouterHostsFileRepair])
        $result.Changed | Should -BeTrue
        $result.Mode | Should -Be 'restore'
        $result.Actions | Should -Be @("- 10.81.0.2`trep-web02", "+ 10.81.0.2`trep-web02-hand")
        $result.Drift.State | Should -Be 'clean'
        Get-Content -LiteralPath $ReportAgent.HostsFile -Raw | Should -Match "(?m)^10\.81\.0\.2\trep-web02$"
        (Repair-RouterHostsFile -Connection $Report -Confirm:$false -PassThru).Changed | Should -BeFalse
    }

    It 'adopts hand edits as events, and warns about invalid lines it does not apply' {
        Edit-ReportFile 's/^# END router-hosts$/10.81.0.9\trep-new09\n10.81.0.300\trep-bad\n# END router-hosts/'
        $result = Repair-RouterHostsFile -Connection $Report -Adopt -Confirm:$false -PassThru -WarningVariable warnings -WarningAction SilentlyContinue
        $result.Mode | Should -Be 'adopt'
        $result.Actions | Should -Be @("+ 10.81.0.9`trep-new09")
        $result.InvalidLines.Count | Should -Be 1
        $result.InvalidLines[0] | Should -Match '^line \d+: .*10\.81\.0\.300'
        $warnings.Count | Should -Be 1
        "$($warnings[0])" | Should -Match '^Not adopted \(invalid\): line \d+: '
        (Get-RouterHost rep-new09 -Connection $Report).IPAddress | Should -Be '10.81.0.9'
        (Get-RouterHost -Connection $Report).Hostname | Should -Be @('rep-web01', 'rep-web02', 'rep-new09')
        (Get-RouterHost rep-new09 -Connection $Report | Get-RouterHostHistory -Connection $Report).Actor | Should -Match '^hosts-file:uid=\d+$'
        $text = Get-Content -LiteralPath $ReportAgent.HostsFile -Raw
        $text | Should -Match "(?m)^10\.81\.0\.9\trep-new09$"
        $text | Should -Not -Match 'rep-bad'
    }
}
