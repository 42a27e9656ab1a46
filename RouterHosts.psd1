#
# Module manifest for RouterHosts: manage a router's /etc/hosts through its RouterHosts agent.
#
# This is the development manifest at the repository root: its paths point into the
# assembled module (the folder artifacts/module/RouterHosts), which ./build.ps1 or
# module/assemble.sh builds, so that `Import-Module ./RouterHosts.psd1` loads the built
# cmdlets. Assembling copies this manifest into that folder with those path prefixes
# removed; that copy is the module that gets published.
#
@{
    RootModule           = 'artifacts/module/RouterHosts/RouterHosts.Commands.dll'
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Core')
    PowerShellVersion    = '7.4'
    GUID                 = 'e7e77a2e-fab3-41f3-a49f-b4bf8249b383'
    Author               = 'RouterHosts contributors'
    CompanyName          = 'RouterHosts'
    Copyright            = '(c) RouterHosts contributors. All rights reserved.'
    Description          = 'Manage the hosts table of a router running the RouterHosts agent over gRPC with mutual TLS: add, change, import and export hosts, edit sessions, snapshots and rollback.'

    FormatsToProcess     = @('artifacts/module/RouterHosts/RouterHosts.format.ps1xml')

    CmdletsToExport      = @(
        'Connect-RouterHostsAgent'
        'Disconnect-RouterHostsAgent'
        'Get-RouterHostsAgent'
        'Test-RouterHostsAgent'
        'Add-RouterHost'
        'Get-RouterHost'
        'Set-RouterHost'
        'Remove-RouterHost'
        'Get-RouterHostHistory'
        'Import-RouterHost'
        'Export-RouterHost'
        'Start-RouterHostsEdit'
        'Complete-RouterHostsEdit'
        'Undo-RouterHostsEdit'
        'Get-RouterHostsEdit'
        'New-RouterHostsSnapshot'
        'Get-RouterHostsSnapshot'
        'Restore-RouterHostsSnapshot'
        'Remove-RouterHostsSnapshot'
        'Watch-RouterHost'
        'Invoke-RouterHostsCompaction'
        'Compare-RouterHost'
        'Sync-RouterHost'
        'Start-RouterHostsDevAgent'
        'Stop-RouterHostsDevAgent'
        'Get-RouterHostsDrift'
        'Repair-RouterHostsFile'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()

    PrivateData          = @{
        PSData = @{
            Tags         = @('hosts', 'dns', 'router', 'grpc', 'mtls', 'pester', 'PSEdition_Core', 'Linux')
            # The project's home and licence: to be confirmed by its owners (the repository has no LICENSE file yet).
            ProjectUri   = 'https://github.com/routerhosts/RouterHosts'
            LicenseUri   = 'https://github.com/routerhosts/RouterHosts/blob/main/LICENSE'
            ReleaseNotes = '0.1.0: the first release.
- Hosts, edit sessions, snapshots, history, import/export and compaction over gRPC with mutual TLS.
- Pipelines stream over one call with progress; Aliases and Tags round-trip through Export-Csv/Import-Csv as a;b.
- Start-RouterHostsDevAgent and Stop-RouterHostsDevAgent: a real throwaway agent for your own Pester tests
  (the linux-x64 agent ships in the module; it needs the .NET 10 runtime with ASP.NET Core).'
        }
    }
}
