#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Import-RouterHost and Export-RouterHost: formats, files, conflict modes, bad input.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Import-RouterHost and Export-RouterHost' {
    BeforeAll {
        Add-RouterHost 10.50.0.1 exp-web01 -Tag exptest -Comment 'exported'
    }

    It 'exports the hosts format to the pipeline, line by line or raw' {
        $lines = Export-RouterHost
        $lines.Count | Should -BeGreaterThan 1
        $lines | Where-Object { $_ -match '^10\.50\.0\.1\s+exp-web01' } | Should -Not -BeNullOrEmpty
        $raw = Export-RouterHost -Raw
        @($raw).Count | Should -Be 1
        $raw | Should -Match 'exp-web01'
    }

    It 'exports JSON that PowerShell can read' {
        $hosts = Export-RouterHost -Format Json -Raw | ConvertFrom-Json
        ($hosts | Where-Object hostname -EQ 'exp-web01').ip_address | Should -Be '10.50.0.1'
    }

    It 'exports to a file, inferring the format from the extension, and -PassThru gives the file' {
        $path = Join-Path $TestDrive 'export.csv'
        Export-RouterHost -Path $path | Should -BeNullOrEmpty
        (Import-Csv -LiteralPath $path | Where-Object hostname -EQ 'exp-web01').ip_address | Should -Be '10.50.0.1'
        $file = Export-RouterHost -Path (Join-Path $TestDrive 'export.json') -PassThru
        $file | Should -BeOfType ([System.IO.FileInfo])
        (Get-Content -LiteralPath $file.FullName -Raw | ConvertFrom-Json).Count | Should -BeGreaterThan 0
    }

    It 'honours -NoClobber and -WhatIf' {
        $path = Join-Path $TestDrive 'exists.hosts'
        Set-Content -LiteralPath $path -Value 'keep me'
        { Export-RouterHost -Path $path -NoClobber } | Should -Throw -ErrorId 'RouterHostsFileExists,RouterHosts.Commands.ExportRouterHostCommand'
        Get-Content -LiteralPath $path | Should -Be 'keep me'
        $new = Join-Path $TestDrive 'whatif.hosts'
        Export-RouterHost -Path $new -WhatIf
        Test-Path -LiteralPath $new | Should -BeFalse
    }

    It 'imports a hosts file, inferring the format, and reports the counts with -PassThru' {
        $path = Join-Path $TestDrive 'import.txt'
        Set-Content -LiteralPath $path -Encoding utf8NoBOM -Value @(
            '# imported'
            '10.51.0.1 imp-one imp-one-alias # [imptest] first'
            '10.51.0.2 imp-two # [imptest]'
        )
        $result = Import-RouterHost -Path $path -PassThru
        $result | Should -BeOfType ([RouterHosts.RouterHostsImportResult])
        $result.Processed | Should -Be 2
        $result.Created | Should -Be 2
        $one = Get-RouterHost imp-one
        $one.Aliases | Should -Be @('imp-one-alias')
        $one.Tags | Should -Be @('imptest')
        $one.Comment | Should -Be 'first'
        Import-RouterHost -Path $path | Should -BeNullOrEmpty # skips what exists, writes nothing
    }

    It 'applies -ConflictMode Skip, Replace and Strict' {
        $path = New-Csv 'conflicts.csv' @('ip_address,hostname,comment', '10.52.0.1,imp-conflict,first')
        (Import-RouterHost -LiteralPath $path -PassThru).Created | Should -Be 1
        Set-Content -LiteralPath $path -Value @('ip_address,hostname,comment', '10.52.0.1,imp-conflict,second') -Encoding utf8NoBOM
        (Import-RouterHost -LiteralPath $path -ConflictMode Skip -PassThru).Skipped | Should -Be 1
        (Get-RouterHost imp-conflict).Comment | Should -Be 'first'
        (Import-RouterHost -LiteralPath $path -ConflictMode Replace -PassThru).Updated | Should -Be 1
        (Get-RouterHost imp-conflict).Comment | Should -Be 'second'
        { Import-RouterHost -LiteralPath $path -ConflictMode Strict -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsImportConflict,RouterHosts.Commands.ImportRouterHostCommand'
    }

    It 'imports files piped from Get-ChildItem and -WhatIf imports nothing' {
        $dir = Join-Path $TestDrive 'piped'
        $null = New-Item -ItemType Directory -Path $dir -Force
        Set-Content -LiteralPath (Join-Path $dir 'a.json') -Encoding utf8NoBOM -Value '[{"ip_address":"10.53.0.1","hostname":"imp-json-a"}]'
        Set-Content -LiteralPath (Join-Path $dir 'b.json') -Encoding utf8NoBOM -Value '[{"ip_address":"10.53.0.2","hostname":"imp-json-b"}]'
        Get-ChildItem -LiteralPath $dir -Filter *.json | Import-RouterHost -WhatIf
        Get-RouterHost -Hostname 'imp-json-*' | Should -BeNullOrEmpty
        Get-ChildItem -LiteralPath $dir -Filter *.json | Import-RouterHost
        @(Get-RouterHost -Hostname 'imp-json-*').Count | Should -Be 2
    }

    It 'reports invalid files, unknown formats and missing files' {
        $bad = New-Csv 'bad.csv' @('ip_address,hostname', 'not-an-ip,imp-bad')
        $errors = @()
        Import-RouterHost -LiteralPath $bad -ErrorVariable errors -ErrorAction SilentlyContinue
        $errors[0].FullyQualifiedErrorId | Should -Be 'RouterHostsImportInvalid,RouterHosts.Commands.ImportRouterHostCommand'
        "$($errors[0].ErrorDetails.Message)" | Should -Match 'line 2'

        $odd = Join-Path $TestDrive 'hosts.data'
        Set-Content -LiteralPath $odd -Value '10.54.0.1 imp-odd' -Encoding utf8NoBOM
        { Import-RouterHost -LiteralPath $odd -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsUnknownFormat,RouterHosts.Commands.ImportRouterHostCommand'
        Import-RouterHost -LiteralPath $odd -Format Hosts
        Get-RouterHost imp-odd | Should -Not -BeNullOrEmpty

        { Import-RouterHost -LiteralPath (Join-Path $TestDrive 'missing.csv') -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsFileNotFound,RouterHosts.Commands.ImportRouterHostCommand'
    }
}
