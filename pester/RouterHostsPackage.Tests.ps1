#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# The module's own package, as a user gets it: the .nupkg that ./build.ps1 -Task Package
# makes (the Pester task makes it before the tests and names its folder in
# ROUTERHOSTS_TEST_PACKAGE_DIR), put in a local PSResource repository, installed with
# Install-PSResource, imported, and used: a dev agent from the agent the package ships.
# A child pwsh with HOME in $TestDrive does all of it, so neither the repository nor the
# installed module touch the user's own (PSResourceGet keeps both under HOME).

BeforeAll {
    $RepoRoot = Split-Path -Parent $PSScriptRoot
    $PwshPath = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    $Manifest = Import-PowerShellDataFile -LiteralPath (Join-Path $RepoRoot 'RouterHosts.psd1')
    $PackageDir = $env:ROUTERHOSTS_TEST_PACKAGE_DIR
    $SkipReason = 'the package test runs under ./build.ps1 -Task Pester, which builds the package first (ROUTERHOSTS_TEST_PACKAGE_DIR is not set)'
}

Describe 'The RouterHosts package' {
    It 'is a .nupkg and a zip of the manifest''s version' {
        if (-not $PackageDir) { Set-ItResult -Skipped -Because $SkipReason; return }
        Join-Path $PackageDir "RouterHosts.$($Manifest.ModuleVersion).nupkg" | Should -Exist
        Join-Path $PackageDir "RouterHosts-$($Manifest.ModuleVersion).zip" | Should -Exist
    }

    # Skipped on Windows: the package ships a linux-x64 agent only.
    It 'installs from a local repository with Install-PSResource, imports, and starts the agent it ships' -Skip:$IsWindows {
        if (-not $PackageDir) { Set-ItResult -Skipped -Because $SkipReason; return }
        $repository = Join-Path $TestDrive 'repository'
        $null = New-Item -ItemType Directory -Path $repository, (Join-Path $TestDrive 'home') -Force
        Copy-Item -LiteralPath (Join-Path $PackageDir "RouterHosts.$($Manifest.ModuleVersion).nupkg") -Destination $repository

        $script = Join-Path $TestDrive 'install.ps1'
        Set-Content -LiteralPath $script -Encoding utf8NoBOM -Value {
            param($Repository, $AgentPath)
            $ErrorActionPreference = 'Stop'
            Register-PSResourceRepository -Name RouterHostsTest -Uri $Repository -Trusted
            $found = Find-PSResource -Name RouterHosts -Repository RouterHostsTest
            $installed = Install-PSResource -Name RouterHosts -Repository RouterHostsTest -Scope CurrentUser -TrustRepository -PassThru
            $module = Import-Module RouterHosts -PassThru
            $start = [Diagnostics.Stopwatch]::StartNew()
            Start-RouterHostsDevAgent -Path $AgentPath
            $startSeconds = $start.Elapsed.TotalSeconds
            Add-RouterHost 10.99.0.1 from-package -Tag pkg
            $hostEntry = Get-RouterHost from-package
            Stop-RouterHostsDevAgent
            [pscustomobject]@{
                Tags                 = @($found.Tags)
                ProjectUri           = "$($found.ProjectUri)"
                LicenseUri           = "$($found.LicenseUri)"
                ReleaseNotes         = $found.ReleaseNotes
                InstalledLocation    = $installed.InstalledLocation
                ModuleBase           = $module.ModuleBase
                Version              = "$($module.Version)"
                CompatiblePSEditions = @($module.CompatiblePSEditions)
                PowerShellVersion    = "$($module.PowerShellVersion)"
                Cmdlets              = @($module.ExportedCmdlets.Keys)
                ShippedAgent         = Test-Path (Join-Path $module.ModuleBase 'agent' 'linux-x64' 'routerhosts-agent.dll')
                HostAddress          = $hostEntry.IPAddress
                StartSeconds         = $startSeconds
            } | ConvertTo-Json -Compress
        }.ToString()

        # HOME in TestDrive; PSModulePath unset, so only the sandbox's module path (and pwsh's own) is searched.
        $saved = @{ HOME = $env:HOME; PSModulePath = $env:PSModulePath }
        try {
            $env:HOME = Join-Path $TestDrive 'home'
            $env:PSModulePath = $null
            $output = & $PwshPath -NoProfile -NonInteractive -File $script $repository (Join-Path $TestDrive 'agent') 2>&1
        }
        finally {
            $env:HOME = $saved.HOME
            $env:PSModulePath = $saved.PSModulePath
        }
        $json = $output | Where-Object { "$_".StartsWith('{') } | Select-Object -Last 1
        $json | Should -Not -BeNullOrEmpty -Because ($output | Out-String)
        $result = $json | ConvertFrom-Json

        $result.Tags | Should -Contain 'PSEdition_Core'
        $result.Tags | Should -Contain 'hosts'
        $result.ProjectUri | Should -Be $Manifest.PrivateData.PSData.ProjectUri
        $result.LicenseUri | Should -Be $Manifest.PrivateData.PSData.LicenseUri
        $result.ReleaseNotes | Should -BeLike "$($Manifest.ModuleVersion):*"
        $result.InstalledLocation | Should -BeLike "$TestDrive*"
        $result.ModuleBase | Should -BeLike "$TestDrive*"
        $result.Version | Should -Be $Manifest.ModuleVersion
        $result.CompatiblePSEditions | Should -Be @('Core')
        $result.PowerShellVersion | Should -Be '7.4'
        ($result.Cmdlets | Sort-Object) | Should -Be ($Manifest.CmdletsToExport | Sort-Object)
        $result.ShippedAgent | Should -BeTrue
        $result.HostAddress | Should -Be '10.99.0.1'
        Write-Host ('Start-RouterHostsDevAgent (the installed package''s agent): {0:N1} s' -f $result.StartSeconds)
    }
}
