#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# The module as a whole: manifest, exports, import cost, load contexts, help, views, ConfirmImpact.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'The module' {
    It 'exports exactly the cmdlets of its manifest, and no functions, aliases or variables' {
        $manifest = Import-PowerShellDataFile -LiteralPath $RootManifest
        $module = Get-Module RouterHosts
        $module | Should -Not -BeNullOrEmpty
        @($module.ExportedCmdlets.Keys | Sort-Object) | Should -Be @($manifest.CmdletsToExport | Sort-Object)
        $module.ExportedCmdlets.Count | Should -Be $manifest.CmdletsToExport.Count
        $module.ExportedCmdlets.Count | Should -BeGreaterOrEqual 20
        $module.ExportedFunctions.Count | Should -Be 0
        $module.ExportedAliases.Count | Should -Be 0
        $module.ExportedVariables.Count | Should -Be 0
    }

    It 'passes Test-ModuleManifest, both at the root and assembled' {
        { Test-ModuleManifest -Path $RootManifest -ErrorAction Stop } | Should -Not -Throw
        { Test-ModuleManifest -Path $AssembledManifest -ErrorAction Stop } | Should -Not -Throw
    }

    It 'imports cheaply: no agent, no configuration, no network' {
        $result = Invoke-FreshPwsh -ArgumentList $RootManifest -Environment @{ ROUTERHOSTS_CLIENT_CONFIG = (Join-Path $TestDrive 'none.json') } -ScriptBlock {
            param($manifest)
            $watch = [Diagnostics.Stopwatch]::StartNew()
            Import-Module $manifest
            $watch.Stop()
            $inDefault = foreach ($assembly in [AppDomain]::CurrentDomain.GetAssemblies()) {
                $name = $assembly.GetName().Name
                if (($name -like 'Grpc.*' -or $name -in 'Google.Protobuf', 'RouterHosts.Client') -and
                    [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($assembly) -eq [System.Runtime.Loader.AssemblyLoadContext]::Default) { $name }
            }
            [pscustomobject]@{
                Cmdlets      = (Get-Module RouterHosts).ExportedCmdlets.Count
                Milliseconds = $watch.ElapsedMilliseconds
                InDefault    = @($inDefault)
                HasCommands  = [bool](Get-Command Connect-RouterHostsAgent -ErrorAction Ignore) # usable with no agent anywhere
            }
        }
        $result.Cmdlets | Should -Be (Import-PowerShellDataFile -LiteralPath $RootManifest).CmdletsToExport.Count
        $result.HasCommands | Should -BeTrue
        $result.InDefault | Should -BeNullOrEmpty
        $result.Milliseconds | Should -BeLessThan 5000
    }

    It 'loads Google.Protobuf, Grpc and the client into its private load context and the model into the default one' {
        $null = Get-RouterHostsAgent
        $byName = @{}
        foreach ($assembly in [AppDomain]::CurrentDomain.GetAssemblies()) {
            $context = [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($assembly)
            $byName[$assembly.GetName().Name] = @($byName[$assembly.GetName().Name]) + $context.Name | Where-Object { $_ }
        }
        foreach ($name in 'RouterHosts.Client', 'RouterHosts.Protocol', 'RouterHosts.Transport', 'Google.Protobuf', 'Grpc.Net.Client') {
            $byName[$name] | Should -Contain 'RouterHosts.Dependencies' -Because "$name belongs to the private context"
            $byName[$name] | Should -Not -Contain 'Default' -Because "$name must stay out of PowerShell's default context"
        }
        $byName['RouterHosts.Model'] | Should -Be 'Default'
        $byName['RouterHosts.Commands'] | Should -Be 'Default'
        Get-ChildItem -LiteralPath (Split-Path $AssembledManifest) -Recurse -Filter 'System.Management.Automation.dll' | Should -BeNullOrEmpty
    }

    It 'has help with a synopsis, every parameter and examples for every cmdlet (assembled module)' {
        $help = Invoke-FreshPwsh -ArgumentList $AssembledManifest -ScriptBlock {
            param($manifest)
            Import-Module $manifest
            foreach ($command in Get-Command -Module RouterHosts) {
                $h = Get-Help $command.Name -Full
                $documented = @($h.parameters.parameter | ForEach-Object name)
                $declared = @($command.Parameters.Keys | Where-Object { $_ -notin [System.Management.Automation.PSCmdlet]::CommonParameters -and $_ -notin [System.Management.Automation.PSCmdlet]::OptionalCommonParameters })
                [pscustomobject]@{
                    Name     = $command.Name
                    Synopsis = "$($h.Synopsis)".Trim()
                    Examples = @($h.examples.example).Count
                    Missing  = @($declared | Where-Object { $_ -notin $documented })
                }
            }
        }
        @($help).Count | Should -Be (Import-PowerShellDataFile -LiteralPath $RootManifest).CmdletsToExport.Count
        foreach ($h in $help) {
            $h.Synopsis | Should -Not -BeNullOrEmpty
            $h.Synopsis | Should -Not -Match '^\S+-\S+ \[' -Because "$($h.Name) should have a written synopsis, not the generated syntax"
            $h.Examples | Should -BeGreaterThan 0 -Because "$($h.Name) needs an example"
            $h.Missing | Should -BeNullOrEmpty -Because "$($h.Name) should document every parameter"
        }
    }

    It 'has a table view for its output types' {
        foreach ($type in 'RouterHosts.RouterHost', 'RouterHosts.RouterHostsSnapshot', 'RouterHosts.RouterHostsEdit', 'RouterHosts.RouterHostsEditResult',
            'RouterHosts.RouterHostsImportResult', 'RouterHosts.RouterHostsRestoreResult', 'RouterHosts.RouterHostsAgentStatus',
            'RouterHosts.RouterHostHistoryEntry', 'RouterHosts.RouterHostsChange', 'RouterHosts.RouterHostsConnection') {
            $views = Get-FormatData -TypeName $type
            $views | Should -Not -BeNullOrEmpty -Because "$type needs a view"
            @($views.FormatViewDefinition.Control | Where-Object { $_ -is [System.Management.Automation.TableControl] }).Count | Should -BeGreaterThan 0
        }
    }

    It 'declares ConfirmImpact High on Restore, Undo and compaction only, Medium on the other cmdlets that change state' {
        # ConfirmImpact means something only with SupportsShouldProcess; PowerShell 7.6 reports
        # None for the others, 7.4 Medium, so only the cmdlets that can ask are checked.
        $asking = Get-Command -Module RouterHosts | Where-Object { $_.Parameters.ContainsKey('WhatIf') }
        @($asking).Count | Should -BeGreaterThan 10
        foreach ($command in $asking) {
            $attribute = $command.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
            $attribute.SupportsShouldProcess | Should -BeTrue -Because $command.Name
            $expected = if ($command.Name -in 'Restore-RouterHostsSnapshot', 'Undo-RouterHostsEdit', 'Invoke-RouterHostsCompaction') { 'High' } else { 'Medium' }
            "$($attribute.ConfirmImpact)" | Should -Be $expected -Because $command.Name
        }
    }
}
