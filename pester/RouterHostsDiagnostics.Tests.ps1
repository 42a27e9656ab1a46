#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# What the module tells a user who looks closer: -Verbose/-Debug on each call, itemised
# errors that name hosts, and tab completion that is never empty right after Connect
# nor falls back to file paths.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe '-Verbose and -Debug' {
    It 'say which call goes to which endpoint, and how long it took' {
        Add-RouterHost 10.96.0.1 diag-one
        $verbose = Get-RouterHost diag-one -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        "$verbose" | Should -Match ([regex]::Escape("ListHosts on $($Agent.Endpoint)") + ': 1 item\(s\) in \d+ ms')
        $debug = Get-RouterHost -Id (Get-RouterHost diag-one).Id -Debug -ErrorAction Stop 5>&1 | Where-Object { $_ -is [System.Management.Automation.DebugRecord] }
        "$debug" | Should -Match ([regex]::Escape("Calling GetHost on $($Agent.Endpoint)"))
        "$debug" | Should -Match ([regex]::Escape("GetHost on $($Agent.Endpoint)") + ': answered in \d+ ms')
        $bulk = Remove-RouterHost diag-one -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        "$bulk" | Should -Match 'Removing hosts: 1 of 1 removed, 0 failed, in [\d.]+ s over one call'
    }

    It '-Debug alone shows the verbose lines too, without a prompt that fails a non-interactive session' {
        # PowerShell 7 gives a compiled cmdlet's verbose stream the Inquire preference under -Debug.
        $records = Add-RouterHost 10.96.0.2 diag-two -Debug -ErrorAction Stop 5>&1
        "$($records | Where-Object { $_ -is [System.Management.Automation.DebugRecord] })" |
            Should -Match 'Adding hosts: 1 of 1 added, 0 failed'
        $records = Remove-RouterHost diag-two -Debug -ErrorAction Stop 5>&1
        "$($records | Where-Object { $_ -is [System.Management.Automation.DebugRecord] })" |
            Should -Match 'Removing hosts: 1 of 1 removed, 0 failed'
        Get-RouterHost -Hostname diag-two -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}

Describe 'Itemised errors' {
    It 'an invalid import lists each bad line once, as its own line' {
        $path = New-Csv 'bad.hosts' @('10.97.0.1 fine', '10.1 bad-ip', '10.97.0.3 bad_name')
        $caught = $null
        try { Import-RouterHost -LiteralPath $path -Format Hosts -ErrorAction Stop } catch { $caught = $_ }
        $lines = "$($caught.ErrorDetails.Message)" -split "`r?`n"
        $lines[0] | Should -Not -Match 'First:'
        @($lines | Where-Object { $_ -match 'line 2:' }).Count | Should -Be 1
        @($lines | Where-Object { $_ -match '^\s+line 3:' }).Count | Should -Be 1
    }

    It 'an edit conflict names the hosts by hostname' {
        $victim = Add-RouterHost 10.97.1.1 diag-victim -PassThru
        $other = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault
        Start-RouterHostsEdit
        try {
            $victim | Set-RouterHost -Comment staged
            Set-RouterHost -Id $victim.Id -Comment 'behind its back' -Connection $other
            $caught = $null
            try { Complete-RouterHostsEdit -Confirm:$false } catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -Be 'RouterHostsEditConflict,RouterHosts.Commands.CompleteRouterHostsEditCommand'
            "$($caught.ErrorDetails.Message)" | Should -Match ('update diag-victim \(' + $victim.Id + '\)')
        }
        finally {
            Undo-RouterHostsEdit -Confirm:$false
            Disconnect-RouterHostsAgent -Connection $other
        }
    }
}

Describe 'Tab completion' {
    It 'is not empty right after Connect, and never offers file paths for -IPAddress, -AsOf, -Connection or snapshot -Name' {
        Add-RouterHost 10.98.0.1 comp-first -Tag comptag
        $out = Invoke-FreshPwsh -ArgumentList $RootManifest, $Agent.ClientConfig, $TestDrive -ScriptBlock {
            param($manifest, $config, $dir)
            Set-Location $dir   # a folder with files in it, which path completion would offer
            Import-Module $manifest
            Connect-RouterHostsAgent -ConfigPath $config
            $complete = { param($line) (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText }
            [pscustomobject]@{
                Tag        = @(& $complete 'Get-RouterHost -Tag comp')
                IP         = @(& $complete 'Get-RouterHost -IPAddress 10.98.')
                IPNone     = @(& $complete 'Get-RouterHost -IPAddress 192.0.2.')
                AsOf       = @(& $complete 'Get-RouterHost -AsOf ')
                Connection = @(& $complete 'Get-RouterHost -Connection ')
                Snapshot   = @(& $complete 'Get-RouterHostsSnapshot -Name zz')
                Files      = @(Get-ChildItem -Name)
            }
        }
        $out.Tag | Should -Be @('comptag')
        $out.IP | Should -Contain '10.98.0.1'
        foreach ($offered in @($out.IPNone) + @($out.AsOf) + @($out.Connection) + @($out.Snapshot)) {
            $offered | Should -Not -BeIn @($out.Files | ForEach-Object { $_; "./$_" })
        }
        $out.AsOf | Should -Contain '(Get-Date).AddHours(-1)'
    }
}
