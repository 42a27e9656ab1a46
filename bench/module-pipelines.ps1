#Requires -Version 7.4
<#
.SYNOPSIS
    Times what a PowerShell user waits for: Start-RouterHostsDevAgent (spawn to a successful
    Readiness call), and the 10,000-host pipelines Import-Csv | Add-RouterHost,
    Get-RouterHost -Tag x | Set-RouterHost and Get-RouterHost -Tag x | Remove-RouterHost.
    Prints a table; asserts nothing (the machine is shared and noisy).

.EXAMPLE
    ./build.ps1 -Task Package; pwsh bench/module-pipelines.ps1 -Runs 5
    The module (as assembled and packaged, so with its agent) from artifacts/module.
#>
param(
    [int] $Runs = 5,
    [int] $Hosts = 10000,
    # A routerhosts-agent.dll or executable; by default the one the packaged module ships.
    [string] $AgentPath
)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
Import-Module (Join-Path $root 'RouterHosts.psd1')
$work = Join-Path ([IO.Path]::GetTempPath()) "routerhosts-module-bench-$PID"
$agentArgs = if ($AgentPath) { @{ AgentPath = $AgentPath } } else { @{} }

try {
    $starts = foreach ($run in 1..$Runs) {
        # A fresh folder each run: the first start of a folder also makes its CA and certificates.
        $watch = [Diagnostics.Stopwatch]::StartNew()
        Start-RouterHostsDevAgent -Path (Join-Path $work "start-$run") @agentArgs
        $watch.Elapsed.TotalSeconds
        Stop-RouterHostsDevAgent
    }

    Start-RouterHostsDevAgent -Path (Join-Path $work 'pipelines') @agentArgs
    $csv = Join-Path $work 'hosts.csv'
    1..$Hosts | ForEach-Object { [pscustomobject]@{ IPAddress = "10.$([math]::Floor($_ / 65536)).$([math]::Floor($_ / 256) % 256).$($_ % 256)"; Hostname = "bench-$_"; Tags = 'bench' } } |
        Export-Csv -LiteralPath $csv
    $add = Measure-Command { Import-Csv -LiteralPath $csv | Add-RouterHost }
    $set = Measure-Command { Get-RouterHost -Tag bench | Set-RouterHost -Comment 'bench set' }
    $remove = Measure-Command { Get-RouterHost -Tag bench | Remove-RouterHost }
    $left = @(Get-RouterHost -Tag bench).Count
    Stop-RouterHostsDevAgent

    $sorted = $starts | Sort-Object
    [pscustomobject]@{ Measure = "Start-RouterHostsDevAgent, median of $Runs (min-max)"; Result = '{0:N2} s ({1:N2}-{2:N2})' -f $sorted[[int][math]::Floor($sorted.Count / 2)], $sorted[0], $sorted[-1] }
    [pscustomobject]@{ Measure = "Import-Csv | Add-RouterHost, $Hosts rows"; Result = '{0:N2} s' -f $add.TotalSeconds }
    [pscustomobject]@{ Measure = "Get-RouterHost -Tag | Set-RouterHost, $Hosts hosts"; Result = '{0:N2} s' -f $set.TotalSeconds }
    [pscustomobject]@{ Measure = "Get-RouterHost -Tag | Remove-RouterHost, $Hosts hosts"; Result = '{0:N2} s ({1} left)' -f $remove.TotalSeconds, $left }
    [pscustomobject]@{ Measure = 'load average (1 min) at the end'; Result = ((Get-Content /proc/loadavg -ErrorAction Ignore) -split ' ')[0] }
}
finally {
    Stop-RouterHostsDevAgent
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction Ignore
}
