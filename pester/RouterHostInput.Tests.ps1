#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Input as Windows tools write it and names that read as addresses, through the cmdlets.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Input the agent must read right or refuse clearly' {
    It 'imports a <Format> file that starts with a UTF-8 byte-order mark' -ForEach @(
        @{ Format = 'hosts'; Octet = 1; Text = "10.90.0.1 bom-hosts`n" }
        @{ Format = 'json'; Octet = 2; Text = '[{"ip_address": "10.90.0.2", "hostname": "bom-json"}]' }
        @{ Format = 'csv'; Octet = 3; Text = "ip_address,hostname`n10.90.0.3,bom-csv`n" }
    ) {
        $path = Join-Path $TestDrive "bom.$Format"
        [System.IO.File]::WriteAllText($path, $Text, [System.Text.UTF8Encoding]::new($true))
        Import-RouterHost -Path $path
        (Get-RouterHost -Hostname "bom-$Format").IPAddress | Should -Be "10.90.0.$Octet"
    }

    It 'names a UTF-16 file instead of calling it invalid UTF-8' {
        $path = Join-Path $TestDrive 'utf16.hosts'
        [System.IO.File]::WriteAllText($path, "10.90.0.9 utf16`n", [System.Text.Encoding]::Unicode)
        { Import-RouterHost -Path $path -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsImportInvalid,RouterHosts.Commands.ImportRouterHostCommand' -ExpectedMessage '*UTF-16*'
    }

    It 'refuses a hostname that reads as an IP address' {
        { Add-RouterHost 10.90.0.10 8.8.8.8 -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsInvalidArgument,RouterHosts.Commands.AddRouterHostCommand' -ExpectedMessage '*RFC 1123*'
    }

    It 'stores an IPv4-mapped IPv6 address as the IPv4 address' {
        (Add-RouterHost '::ffff:10.90.0.11' mapped-v4 -PassThru).IPAddress | Should -Be '10.90.0.11'
    }
}
