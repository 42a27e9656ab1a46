# Shared setup of the Pester suite: the RouterHosts module as users run it, imported
# through the root RouterHosts.psd1 (run ./build.ps1 -Task Assemble or module/assemble.sh
# first), against a real agent started with --dev in $TestDrive on a free loopback port.
#
# Every test file starts with
#
#   BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }   # imports the module, starts $Agent, connects $Connection
#   AfterAll { Remove-TestSession }                             # ends the agent, removes the module
#
# so each file has an agent of its own and can run alone:
#
#   Invoke-Pester ./pester                 (or ./build.ps1 -Task Pester)
#   Invoke-Pester ./pester/RouterHost.Tests.ps1
#
# ROUTERHOSTS_TEST_AGENT_DLL names the agent's routerhosts-agent.dll; by default the
# newest build under src/RouterHosts.Agent/bin is used.

$RepoRoot = Split-Path -Parent $PSScriptRoot
# The test file that dot-sourced this setup (for the names of kept logs).
$TestFileName = [IO.Path]::GetFileNameWithoutExtension((Get-PSCallStack)[1].ScriptName ?? 'pester')
$RootManifest = Join-Path $RepoRoot 'RouterHosts.psd1'
$AssembledManifest = Join-Path $RepoRoot 'artifacts' 'module' 'RouterHosts' 'RouterHosts.psd1'
if (-not (Test-Path -LiteralPath $AssembledManifest)) {
    throw "The module is not assembled: run ./build.ps1 -Task Assemble (or module/assemble.sh) first."
}

$AgentDll = $env:ROUTERHOSTS_TEST_AGENT_DLL
if (-not $AgentDll) {
    $AgentDll = Get-ChildItem -Path (Join-Path $RepoRoot 'src' 'RouterHosts.Agent' 'bin' '*' 'net10.0' 'routerhosts-agent.dll') -ErrorAction Ignore |
        Sort-Object LastWriteTimeUtc -Descending | Select-Object -First 1 -ExpandProperty FullName
}
if (-not $AgentDll -or -not (Test-Path -LiteralPath $AgentDll)) {
    throw "No routerhosts-agent.dll: build the agent (dotnet build src/RouterHosts.Agent) or set ROUTERHOSTS_TEST_AGENT_DLL."
}

# The pwsh running these tests. Not (Get-Process -Id $PID).Path: for pwsh installed as a
# .NET tool that is `dotnet`.
$PwshPath = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')

function Get-FreePort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

function Start-TestAgent {
    # -Database: a --dev agent on that database URL (PostgreSQL) instead of its own SQLite file.
    param([Parameter(Mandatory)] [string] $Name, [string] $ConfigPath, [string] $Database)
    $dataDir = Join-Path $TestDrive $Name
    $null = New-Item -ItemType Directory -Path $dataDir -Force
    $port = Get-FreePort
    $arguments = if ($ConfigPath) {
        @($AgentDll, '--config', $ConfigPath)
    }
    else {
        @($AgentDll, '--dev', '--data-dir', $dataDir, '--listen', "127.0.0.1:$port") + ($Database ? @('--database', $Database) : @())
    }
    $out = Join-Path $TestDrive "$Name.out.log"
    $err = Join-Path $TestDrive "$Name.err.log"
    $process = Start-Process -FilePath 'dotnet' -ArgumentList ($arguments | ForEach-Object { '"{0}"' -f $_ }) `
        -RedirectStandardOutput $out -RedirectStandardError $err -PassThru -NoNewWindow
    [pscustomobject]@{
        Name         = $Name
        Process      = $process
        DataDir      = $dataDir
        Port         = $port
        Endpoint     = "127.0.0.1:$port"
        ClientConfig = Join-Path $dataDir 'client.json'
        HostsFile    = Join-Path $dataDir 'hosts'
        Pki          = Join-Path $dataDir 'pki'
        OutLog       = $out
        ErrLog       = $err
    }
}

function Get-AgentLog($Agent) {
    (Get-Content -LiteralPath $Agent.OutLog, $Agent.ErrLog -Raw -ErrorAction Ignore) -join "`n"
}

# Ready means the agent answers Readiness. The deadline is generous: a cold start on a
# loaded 2-core machine can take many seconds.
function Wait-TestAgent {
    param([Parameter(Mandatory)] $Agent, [Parameter(Mandatory)] $Connection, [int] $TimeoutSec = 120)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
    while (-not (Test-RouterHostsAgent -Connection $Connection)) {
        if ($Agent.Process.HasExited) { throw "the agent $($Agent.Name) exited ($($Agent.Process.ExitCode)):`n$(Get-AgentLog $Agent)" }
        if ([DateTime]::UtcNow -gt $deadline) { throw "the agent $($Agent.Name) did not become ready:`n$(Get-AgentLog $Agent)" }
        Start-Sleep -Milliseconds 200
    }
}

# A --dev agent writes client.json atomically, after the certificates it names: once the
# file is there it can be read whole. Connects with it and waits until the agent answers.
function Connect-TestAgent {
    param([Parameter(Mandatory)] $Agent, [switch] $NotDefault, [int] $TimeoutSec = 120)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
    while (-not (Test-Path -LiteralPath $Agent.ClientConfig)) {
        if ($Agent.Process.HasExited) { throw "the agent $($Agent.Name) exited ($($Agent.Process.ExitCode)):`n$(Get-AgentLog $Agent)" }
        if ([DateTime]::UtcNow -gt $deadline) { throw "the agent $($Agent.Name) wrote no client.json:`n$(Get-AgentLog $Agent)" }
        Start-Sleep -Milliseconds 100
    }
    $connection = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault:$NotDefault -PassThru
    Wait-TestAgent -Agent $Agent -Connection $connection -TimeoutSec ([Math]::Max(1, ($deadline - [DateTime]::UtcNow).TotalSeconds))
    $connection
}

function Stop-TestAgent($Agent) {
    if ($Agent -and $Agent.Process -and -not $Agent.Process.HasExited) {
        $Agent.Process.Kill($true)
        $null = $Agent.Process.WaitForExit(10000)
    }
}

# Runs a script block in a fresh pwsh (for what must not touch this session: import
# cost, the default connection, help through the assembled manifest).
function Invoke-FreshPwsh {
    param([Parameter(Mandatory)] [scriptblock] $ScriptBlock, [object[]] $ArgumentList = @(), [hashtable] $Environment = @{})
    $saved = @{}
    foreach ($key in $Environment.Keys) {
        $saved[$key] = [Environment]::GetEnvironmentVariable($key)
        [Environment]::SetEnvironmentVariable($key, $Environment[$key])
    }
    try {
        & $PwshPath -NoProfile -NonInteractive -Command $ScriptBlock -args $ArgumentList
    }
    finally {
        foreach ($key in $saved.Keys) { [Environment]::SetEnvironmentVariable($key, $saved[$key]) }
    }
}

function New-Csv([string] $Name, [string[]] $Lines) {
    $path = Join-Path $TestDrive $Name
    Set-Content -LiteralPath $path -Value $Lines -Encoding utf8NoBOM
    $path
}

# Ends what this setup started, even when the setup itself failed half-way, and keeps
# the agent's log in artifacts/pester-logs/ (TestDrive goes with the file's run).
function Remove-TestSession {
    Get-Module RouterHosts | Remove-Module -Force
    Stop-TestAgent $Agent
    if ($Agent) {
        $logs = Join-Path $RepoRoot 'artifacts' 'pester-logs'
        $null = New-Item -ItemType Directory -Path $logs -Force
        Get-AgentLog $Agent | Set-Content -LiteralPath (Join-Path $logs "$TestFileName.$($Agent.Name).log")
    }
}

Import-Module $RootManifest -Force
$Agent = Start-TestAgent -Name 'agent'
$Connection = Connect-TestAgent -Agent $Agent
