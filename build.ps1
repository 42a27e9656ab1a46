#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, assembles, tests and packages the RouterHosts PowerShell module.

.DESCRIPTION
    Tasks (run in the order given; 'All' is Build, Assemble, Test, Pester):

      Build     dotnet build RouterHosts.sln
      Assemble  publishes RouterHosts.Commands and lays out the importable module in
                artifacts/module/RouterHosts (the layout module/assemble.sh makes too):
                  RouterHosts.psd1, RouterHosts.Commands.dll, RouterHosts.Model.dll,
                  RouterHosts.format.ps1xml, en-US/RouterHosts.Commands.dll-Help.xml,
                  deps/ (client library, Google.Protobuf, Grpc.*: loaded into a private
                  AssemblyLoadContext). The root RouterHosts.psd1 then imports it.
      Test      dotnet test RouterHosts.sln (the cmdlet metadata tests check the module
                just assembled, through ROUTERHOSTS_TEST_MODULE_DIR)
      Pester    runs pester/ and examples/ (Pester 5) in a fresh pwsh against real agents, with
                artifacts/module first on PSModulePath (so `Import-Module RouterHosts` in the
                example finds the module under test); fails when
                a test fails, or when Pester 5 is missing and the task was asked for by name
                ('All' skips it with a warning instead)
                Test and Pester need a PostgreSQL server for the PostgreSQL store's and the shared-agent
                tests: the one ROUTERHOSTS_TEST_POSTGRES_URL names, or else a throwaway one started for
                the run (tests/postgres/throwaway.sh; Debian's postgresql-15) and stopped after it
      Package   assembles the module, adds the dev agent (agent/linux-x64: routerhosts-agent
                published framework-dependent for linux-x64, which Start-RouterHostsDevAgent
                runs with dotnet), zips the module folder and, when
                Microsoft.PowerShell.PSResourceGet is available, makes the .nupkg that
                Publish-PSResource would upload, both in artifacts/package. The Pester task
                packages the module it tests this way (the package test installs that .nupkg).

.EXAMPLE
    ./build.ps1
    Builds everything, assembles the module, runs xunit and Pester.

.EXAMPLE
    ./build.ps1 -Task Assemble; Import-Module ./RouterHosts.psd1
    Assembles the module and imports it from the repository root.

.EXAMPLE
    ./build.ps1 -Task Pester -Configuration Debug
#>
[CmdletBinding()]
param(
    [ValidateSet('All', 'Build', 'Assemble', 'Test', 'Pester', 'Package')]
    [string[]] $Task = @('All'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$Root = $PSScriptRoot
$Artifacts = Join-Path $Root 'artifacts'
$ModuleDir = Join-Path $Artifacts 'module' 'RouterHosts'
$PublishDir = Join-Path $Artifacts 'publish' 'RouterHosts.Commands'
$PackageDir = Join-Path $Artifacts 'package'
$AgentProject = Join-Path $Root 'src' 'RouterHosts.Agent' 'RouterHosts.Agent.csproj'
$ManifestPrefix = 'artifacts/module/RouterHosts/'
$TopLevelFiles = @(
    'RouterHosts.Commands.dll', 'RouterHosts.Commands.pdb', 'RouterHosts.Commands.xml'
    'RouterHosts.Model.dll', 'RouterHosts.Model.pdb', 'RouterHosts.Model.xml'
)
$AgentDll = Join-Path $Root 'src' 'RouterHosts.Agent' 'bin' $Configuration 'net10.0' 'routerhosts-agent.dll'

function Write-Step([string] $Message) {
    Write-Host "==> $Message" -ForegroundColor Cyan
}

function Invoke-Native {
    param([Parameter(Mandatory)] [string] $FilePath, [string[]] $ArgumentList = @())
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) {
        throw "$FilePath $($ArgumentList -join ' ') failed with exit code $LASTEXITCODE"
    }
}

function Invoke-Build {
    Write-Step "Build ($Configuration)"
    Invoke-Native dotnet @('build', (Join-Path $Root 'RouterHosts.sln'), '-c', $Configuration, '--nologo')
}

function Invoke-Assemble {
    Write-Step "Assemble the module in $ModuleDir"
    if (Test-Path -LiteralPath $PublishDir) { Remove-Item -LiteralPath $PublishDir -Recurse -Force }
    Invoke-Native dotnet @('publish', (Join-Path $Root 'src' 'RouterHosts.Commands' 'RouterHosts.Commands.csproj'),
        '-c', $Configuration, '-o', $PublishDir, '--nologo')

    if (Test-Path -LiteralPath (Join-Path $PublishDir 'System.Management.Automation.dll')) {
        throw "$PublishDir contains System.Management.Automation.dll; it must not ship (PowerShell supplies it)."
    }

    if (Test-Path -LiteralPath $ModuleDir) { Remove-Item -LiteralPath $ModuleDir -Recurse -Force }
    $deps = Join-Path $ModuleDir 'deps'
    $help = Join-Path $ModuleDir 'en-US'
    $null = New-Item -ItemType Directory -Path $deps, $help -Force

    foreach ($file in Get-ChildItem -LiteralPath $PublishDir -File) {
        if ($TopLevelFiles -contains $file.Name) {
            Copy-Item -LiteralPath $file.FullName -Destination $ModuleDir
        }
        elseif ($file.Extension -in '.dll', '.pdb') {
            Copy-Item -LiteralPath $file.FullName -Destination $deps
        }
        # deps.json and the like: not needed by PowerShell
    }
    Copy-Item -LiteralPath (Join-Path $Root 'module' 'RouterHosts.format.ps1xml') -Destination $ModuleDir
    Copy-Item -Path (Join-Path $Root 'en-US' '*') -Destination $help

    # The published manifest is the root one with the paths made relative to the module folder.
    $manifest = [IO.File]::ReadAllText((Join-Path $Root 'RouterHosts.psd1'))
    [IO.File]::WriteAllText((Join-Path $ModuleDir 'RouterHosts.psd1'), $manifest.Replace($ManifestPrefix, ''), [Text.UTF8Encoding]::new($false))

    foreach ($required in 'RouterHosts.psd1', 'RouterHosts.Commands.dll', 'RouterHosts.Model.dll', 'RouterHosts.format.ps1xml',
        'en-US/RouterHosts.Commands.dll-Help.xml', 'deps/RouterHosts.Client.dll') {
        if (-not (Test-Path -LiteralPath (Join-Path $ModuleDir $required))) { throw "$required is missing from $ModuleDir" }
    }
    # Both manifests must be valid and name files that exist.
    $null = Test-ModuleManifest -Path (Join-Path $ModuleDir 'RouterHosts.psd1')
    $null = Test-ModuleManifest -Path (Join-Path $Root 'RouterHosts.psd1')
    Write-Host "assembled the RouterHosts module in $ModuleDir"
}

function Invoke-Test {
    Write-Step 'xunit: dotnet test RouterHosts.sln'
    if (-not (Test-Path -LiteralPath (Join-Path $ModuleDir 'RouterHosts.psd1'))) { Invoke-Assemble }
    $previous = $env:ROUTERHOSTS_TEST_MODULE_DIR
    $env:ROUTERHOSTS_TEST_MODULE_DIR = $ModuleDir
    try {
        Invoke-Native dotnet @('test', (Join-Path $Root 'RouterHosts.sln'), '-c', $Configuration, '--nologo')
    }
    finally {
        $env:ROUTERHOSTS_TEST_MODULE_DIR = $previous
    }
}

function Get-Pester5 {
    Get-Module -ListAvailable -Name Pester | Where-Object { $_.Version -ge [version]'5.0.0' } |
        Sort-Object Version -Descending | Select-Object -First 1
}

function Invoke-PesterTests([bool] $Required) {
    Write-Step 'Pester'
    $pester = Get-Pester5
    if (-not $pester) {
        $message = 'Pester 5 is not installed: ./test.sh installs it from NuGet (or Install-Module Pester -MinimumVersion 5.5.0 -Scope CurrentUser).'
        if ($Required) { throw $message }
        Write-Warning "$message Skipping the Pester suite."
        return
    }
    if (-not (Test-Path -LiteralPath $AgentDll)) { Invoke-Build }
    if (-not (Test-Path -LiteralPath (Join-Path $ModuleDir 'RouterHosts.psd1'))) { Invoke-Assemble }
    # The package test installs the .nupkg of the module under test, and the example's dev agent is the one it ships.
    if (-not $script:Packaged) { Invoke-Package -Assembled }

    $results = Join-Path $Artifacts 'pester-results.xml'
    # A fresh process: the module's assemblies stay out of this session (and unlocked for the next build).
    $script = @'
param($PesterPath, $TestsPath, $ExamplesPath, $ResultsPath)
Import-Module $PesterPath -Force
$configuration = New-PesterConfiguration
$configuration.Run.Path = @($TestsPath, $ExamplesPath)
$configuration.Output.Verbosity = 'Detailed'
$configuration.TestResult.Enabled = $true
$configuration.TestResult.OutputFormat = 'NUnitXml'
$configuration.TestResult.OutputPath = $ResultsPath
$configuration.Run.PassThru = $true
$configuration.Run.Exit = $false
$result = Invoke-Pester -Configuration $configuration
# A block or file whose setup failed counts as a failure too (its tests never ran).
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
"pester-summary: $($result.PassedCount) passed, $failed failed"
exit ([int]($failed -gt 0 -or $result.PassedCount -eq 0))
'@
    $scriptFile = Join-Path ([IO.Path]::GetTempPath()) "routerhosts-pester-$([guid]::NewGuid().ToString('N')).ps1"
    Set-Content -LiteralPath $scriptFile -Value $script -Encoding utf8NoBOM
    $saved = @{}
    $environment = @{
        ROUTERHOSTS_TEST_AGENT_DLL   = $AgentDll
        ROUTERHOSTS_TEST_PACKAGE_DIR = $PackageDir
        PSModulePath                 = (Join-Path $Artifacts 'module') + [IO.Path]::PathSeparator + $env:PSModulePath
    }
    foreach ($key in $environment.Keys) {
        $saved[$key] = [Environment]::GetEnvironmentVariable($key)
        [Environment]::SetEnvironmentVariable($key, $environment[$key])
    }
    try {
        # Not (Get-Process -Id $PID).Path: for pwsh installed as a .NET tool that is `dotnet`.
        $pwsh = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
        Invoke-Native $pwsh @('-NoProfile', '-NonInteractive', '-File', $scriptFile, $pester.Path, (Join-Path $Root 'pester'),
            (Join-Path $Root 'examples'), $results)
    }
    finally {
        foreach ($key in $saved.Keys) { [Environment]::SetEnvironmentVariable($key, $saved[$key]) }
        Remove-Item -LiteralPath $scriptFile -ErrorAction Ignore
    }
}

# -Assembled: package the module already assembled (the Pester task's), instead of assembling it anew.
function Invoke-Package([switch] $Assembled) {
    Write-Step "Package the module into $PackageDir"
    if (-not $Assembled) { Invoke-Assemble }
    # The dev agent for Start-RouterHostsDevAgent: framework-dependent (5 MiB, not 110), so it needs the .NET 10
    # runtime with ASP.NET Core where it runs; Start-RouterHostsDevAgent runs it with dotnet.
    $agentDir = Join-Path $ModuleDir 'agent' 'linux-x64'
    if (Test-Path -LiteralPath $agentDir) { Remove-Item -LiteralPath $agentDir -Recurse -Force }
    Invoke-Native dotnet @('publish', $AgentProject, '-c', $Configuration, '-r', 'linux-x64', '--self-contained', 'false', '-o', $agentDir, '--nologo')
    Get-ChildItem -LiteralPath $agentDir -Filter '*.pdb' | Remove-Item
    if (-not (Test-Path -LiteralPath (Join-Path $agentDir 'routerhosts-agent.dll'))) { throw "routerhosts-agent.dll is missing from $agentDir" }
    $null = New-Item -ItemType Directory -Path $PackageDir -Force
    $version = (Import-PowerShellDataFile -LiteralPath (Join-Path $ModuleDir 'RouterHosts.psd1')).ModuleVersion

    $zip = Join-Path $PackageDir "RouterHosts-$version.zip"
    Compress-Archive -LiteralPath $ModuleDir -DestinationPath $zip -Force
    Write-Host "wrote $zip"

    if (-not (Get-Command Publish-PSResource -ErrorAction Ignore)) {
        Write-Warning 'Microsoft.PowerShell.PSResourceGet is not available; made the zip only.'
        return
    }
    $repository = "RouterHostsLocal$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    Get-ChildItem -LiteralPath $PackageDir -Filter 'RouterHosts.*.nupkg' | Remove-Item
    Register-PSResourceRepository -Name $repository -Uri $PackageDir -Trusted
    try {
        Publish-PSResource -Path $ModuleDir -Repository $repository -SkipDependenciesCheck
    }
    finally {
        Unregister-PSResourceRepository -Name $repository
    }
    Get-ChildItem -LiteralPath $PackageDir -Filter 'RouterHosts.*.nupkg' | ForEach-Object { Write-Host "wrote $($_.FullName)" }
    $script:Packaged = $true
}

# The PostgreSQL store's tests and the shared-agent tests need a server. When ROUTERHOSTS_TEST_POSTGRES_URL names
# none (test.sh sets it for its own), a throwaway one (tests/postgres/throwaway.sh, Debian's postgresql-15) runs
# for the length of the tasks, then is stopped.
function Invoke-WithTestPostgres([scriptblock] $Body) {
    $throwaway = Join-Path $Root 'tests' 'postgres' 'throwaway.sh'
    if ($env:ROUTERHOSTS_TEST_POSTGRES_URL -or -not $IsLinux) { & $Body; return }
    $saved = $env:ROUTERHOSTS_TEST_POSTGRES_STATE
    $env:ROUTERHOSTS_TEST_POSTGRES_STATE = Join-Path ([IO.Path]::GetTempPath()) "routerhosts-pg-state-$([guid]::NewGuid().ToString('N'))"
    try {
        $line = & bash $throwaway start | Select-Object -Last 1
        if ($LASTEXITCODE -ne 0 -or $line -notmatch '^ROUTERHOSTS_TEST_POSTGRES_URL=(.+)$') {
            Write-Warning 'Could not start a throwaway PostgreSQL (apt-get install postgresql-15, or set ROUTERHOSTS_TEST_POSTGRES_URL): the PostgreSQL tests will fail.'
            & $Body
            return
        }
        Write-Host "a throwaway PostgreSQL for the tests: $($Matches[1])"
        $env:ROUTERHOSTS_TEST_POSTGRES_URL = $Matches[1]
        try { & $Body }
        finally {
            & bash $throwaway stop
            $env:ROUTERHOSTS_TEST_POSTGRES_URL = $null
        }
    }
    finally {
        $env:ROUTERHOSTS_TEST_POSTGRES_STATE = $saved
    }
}

$script:Packaged = $false
$steps = foreach ($name in $Task) {
    if ($name -eq 'All') { 'Build', 'Assemble', 'Test', 'Pester' } else { $name }
}
$runSteps = {
    foreach ($step in $steps) {
        switch ($step) {
            'Build' { Invoke-Build }
            'Assemble' { Invoke-Assemble }
            'Test' { Invoke-Test }
            'Pester' { Invoke-PesterTests -Required ($Task -notcontains 'All') }
            'Package' { Invoke-Package }
        }
    }
}
if ($steps -contains 'Test' -or $steps -contains 'Pester') { Invoke-WithTestPostgres $runSteps } else { & $runSteps }
