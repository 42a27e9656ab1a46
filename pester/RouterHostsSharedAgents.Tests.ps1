#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Two agents sharing one PostgreSQL database: Get-RouterHostsAgent -All, a write through either
# reaching both hosts files, and the edit session's agent in Get-RouterHostsEdit's table.
# Against two real --dev agents on a fresh database of the throwaway server that
# ROUTERHOSTS_TEST_POSTGRES_URL names (tests/postgres/throwaway.sh start; test.sh starts one).

# Skipped on Windows: the throwaway PostgreSQL (tests/postgres/throwaway.sh: Debian's postgresql-15, pg_ctl) is Linux-only.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
    if ($IsWindows) { return }
    $server = $env:ROUTERHOSTS_TEST_POSTGRES_URL
    if (-not $server) { throw 'ROUTERHOSTS_TEST_POSTGRES_URL is not set: start tests/postgres/throwaway.sh start and export what it prints' }
    $DatabaseName = 'rh_pester_' + [guid]::NewGuid().ToString('N')
    & psql $server -q -c "CREATE DATABASE $DatabaseName"
    if ($LASTEXITCODE -ne 0) { throw "psql could not create the database $DatabaseName on $server" }
    $database = $server -replace '^(postgres://[^/?]+)(/[^?]*)?', "`$1/$DatabaseName"
    $AgentA = Start-TestAgent -Name 'pg-a' -Database $database
    $AgentB = Start-TestAgent -Name 'pg-b' -Database $database
    $ToA = Connect-TestAgent -Agent $AgentA -NotDefault
    $ToB = Connect-TestAgent -Agent $AgentB -NotDefault

    # Waits for the real condition: the line in the file (the follower writes it when notified).
    function Wait-HostsLine($Agent, [string] $Pattern, [int] $TimeoutSec = 60) {
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        while (-not (Select-String -LiteralPath $Agent.HostsFile -Pattern $Pattern -Quiet)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "'$Pattern' did not reach $($Agent.HostsFile):`n$(Get-AgentLog $Agent)" }
            Start-Sleep -Milliseconds 20
        }
    }
}

AfterAll {
    foreach ($shared in $AgentA, $AgentB) {
        Stop-TestAgent $shared
        if ($shared) {
            Get-AgentLog $shared | Set-Content -LiteralPath (Join-Path $RepoRoot 'artifacts' 'pester-logs' "$TestFileName.$($shared.Name).log") -ErrorAction Ignore
        }
    }
    Remove-TestSession
    if ($DatabaseName) { & psql $env:ROUTERHOSTS_TEST_POSTGRES_URL -q -c "DROP DATABASE IF EXISTS $DatabaseName WITH (FORCE)" }
}

Describe 'Get-RouterHostsAgent -All with two agents on one PostgreSQL database' -Skip:$IsWindows {
    It 'shows a write through either agent in both hosts files' {
        Add-RouterHost 10.0.0.5 nas -Connection $ToA
        Add-RouterHost 10.0.0.6 printer -Connection $ToB
        foreach ($shared in $AgentA, $AgentB) {
            Wait-HostsLine $shared '^10\.0\.0\.5\s+nas'
            Wait-HostsLine $shared '^10\.0\.0\.6\s+printer'
        }
    }

    It 'lists both agents through either one, the one asked marked, each with its hosts file' {
        foreach ($pair in @(@($ToA, $AgentA), @($ToB, $AgentB))) {
            $connection, $asked = $pair
            $all = @(Get-RouterHostsAgent -All -Connection $connection)
            $all | Should -HaveCount 2
            $all | ForEach-Object { $_ | Should -BeOfType ([RouterHosts.RouterHostsAgentRecord]) }
            ($all.HostsFilePath | Sort-Object) | Should -Be (@($AgentA.HostsFile, $AgentB.HostsFile) | Sort-Object)
            @($all | Where-Object IsThisAgent).HostsFilePath | Should -Be @($asked.HostsFile)
            $all | ForEach-Object { $_.Version | Should -Not -BeNullOrEmpty }
        }
    }

    It 'says each hosts file holds the latest change once both files have it' {
        Add-RouterHost 10.0.0.7 camera -Connection $ToB
        foreach ($shared in $AgentA, $AgentB) { Wait-HostsLine $shared '^10\.0\.0\.7\s+camera' }
        # The record follows the file: each agent reports when its file changes.
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        do {
            $all = @(Get-RouterHostsAgent -All -Connection $ToA)
            $current = @($all | Where-Object HostsFileCurrent).Count
            if ($current -lt 2) { Start-Sleep -Milliseconds 50 }
        } while ($current -lt 2 -and [DateTime]::UtcNow -lt $deadline)
        $all | ForEach-Object { $_.HostsFileCurrent | Should -BeTrue -Because "$($_.HostsFilePath) has the line" }
        ($all.AppliedChangeId | Select-Object -Unique) | Should -HaveCount 1
        $table = $all | Format-Table | Out-String -Width 400
        $table | Should -Match '\*\S+\s+current'
    }
}

Describe 'Get-RouterHostsEdit on a shared database' -Skip:$IsWindows {
    It 'shows, through the other agent, the agent the session was started through, in the table too' {
        $null = Start-RouterHostsEdit -Connection $ToA
        try {
            $seen = Get-RouterHostsEdit -Connection $ToB
            $seen.Agent | Should -Match ([regex]::Escape($AgentA.HostsFile))
            $table = $seen | Format-Table | Out-String -Width 400
            $table | Should -Match '\bAgent\b'
            $table | Should -Match ([regex]::Escape($AgentA.Name))
        }
        finally { Undo-RouterHostsEdit -Connection $ToA -Confirm:$false }
    }
}
