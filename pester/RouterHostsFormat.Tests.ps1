#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# The default views at 80 columns, as a user's console shows them.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Views at 80 columns' {
    BeforeAll {
        Add-RouterHost 10.95.0.1 fmt-web01 -Alias fmt-www -Tag lab, web -Comment 'rack 2'
    }

    It 'the host table keeps Comment and shows Tags' {
        $text = Get-RouterHost fmt-web01 | Out-String -Width 80
        $text | Should -Match 'Hostname\s+IPAddress\s+Aliases\s+Tags\s+Comment'
        $text | Should -Match 'fmt-web01\s+10\.95\.0\.1\s+fmt-www\s+lab, web\s+rack 2'
    }

    It 'the agent table has its headers on one line' {
        $text = Get-RouterHostsAgent | Out-String -Width 80
        $text | Should -Match 'Endpoint\s+Healthy\s+Version\s+Uptime\s+Hosts\s+HostsFile\s+EditSession'
    }

    It 'history shows the actor' {
        $text = Get-RouterHost fmt-web01 | Get-RouterHostHistory | Out-String -Width 80
        $text | Should -Match 'Actor'
        $text | Should -Match 'routerhosts-dev-client'
    }
}
