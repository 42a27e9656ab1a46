#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Tab completion from the connection cache.
# Against a real agent started by TestSetup.ps1 (see there).

BeforeAll { . (Join-Path $PSScriptRoot 'TestSetup.ps1') }
AfterAll { Remove-TestSession }

Describe 'Tab completion' {
    BeforeAll {
        $c1 = Add-RouterHost 10.90.0.1 comp-web01 -Tag comptag-alpha -PassThru
        $c2 = Add-RouterHost 10.90.0.2 comp-web02 -Tag comptag-beta -PassThru
        $csnap = New-RouterHostsSnapshot 'completion'
        function Get-Completions([string] $line) {
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
        }
        function Wait-Completions([string] $line, [string] $expected) {
            # The first request may find the cache empty and start a background refresh.
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            do {
                $found = Get-Completions $line
                if ($found -contains $expected) { return $found }
                Start-Sleep -Milliseconds 200
            } while ([DateTime]::UtcNow -lt $deadline)
            $found
        }
    }

    It 'completes tags, hostnames, ids and snapshot ids from the connection cache' {
        Wait-Completions 'Get-RouterHost -Tag comptag-' 'comptag-alpha' | Should -Contain 'comptag-beta'
        Wait-Completions 'Get-RouterHost -Hostname comp-w' 'comp-web01' | Should -Contain 'comp-web02'
        Wait-Completions "Remove-RouterHost -Id $($c1.Id.Substring(0, 20))" $c1.Id | Should -Contain $c1.Id
        Wait-Completions 'Restore-RouterHostsSnapshot -Id ' $csnap.Id | Should -Contain $csnap.Id
    }

    It 'never blocks a keystroke on an unreachable agent' {
        $dead = Connect-RouterHostsAgent -Endpoint "127.0.0.1:$(Get-FreePort)" -CertificatePath (Join-Path $Agent.Pki 'client.crt') `
            -KeyPath (Join-Path $Agent.Pki 'client.key') -CaPath (Join-Path $Agent.Pki 'ca.crt') -NotDefault
        try {
            $global:RouterHostsTestDeadConnection = $dead
            $elapsed = Measure-Command { $null = Get-Completions 'Get-RouterHost -Connection $RouterHostsTestDeadConnection -Tag x' }
            $elapsed.TotalSeconds | Should -BeLessThan 2
        }
        finally {
            Remove-Variable -Name RouterHostsTestDeadConnection -Scope Global -ErrorAction Ignore
            $dead | Disconnect-RouterHostsAgent
        }
    }
}
