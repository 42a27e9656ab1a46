#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Start-RouterHostsDevAgent and Stop-RouterHostsDevAgent: real agent processes, started
# from the agent build TestSetup.ps1 finds (-AgentPath), from PATH, or not at all; ended by
# Stop, by Remove-Module and by the end of pwsh. The module's own agent/linux-x64 is
# exercised by the package test and by examples/RouterHosts.Example.Tests.ps1.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')

    # Waits (generously) until the process is gone: a killed process is reaped asynchronously.
    function Wait-ProcessGone([int] $Id, [int] $TimeoutSec = 60) {
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        while (Get-Process -Id $Id -ErrorAction Ignore) {
            if ([DateTime]::UtcNow -gt $deadline) { return $false }
            Start-Sleep -Milliseconds 100
        }
        $true
    }

    # The agent process behind a dev agent's connection (it runs as dotnet <dll> --dev ... --listen 127.0.0.1:PORT).
    function Get-DevAgentPid($Connection) {
        $port = $Connection.Target -replace '.*:'
        (Get-Process | Where-Object { $_.CommandLine -like "*--listen 127.0.0.1:$port*" }).Id
    }

    # The module folder without agent/ (what Start-RouterHostsDevAgent finds when nothing ships).
    $BareModule = Join-Path $TestDrive 'bare' 'RouterHosts'
    $null = New-Item -ItemType Directory -Path $BareModule -Force
    Get-ChildItem -LiteralPath (Split-Path -Parent $AssembledManifest) | Where-Object Name -NE 'agent' |
        Copy-Item -Destination $BareModule -Recurse

    # Runs a script in a child pwsh with the given PATH; returns its output as text.
    function Invoke-PwshWithPath([string] $PathValue, [scriptblock] $ScriptBlock, [object[]] $ArgumentList = @()) {
        $file = Join-Path $TestDrive "child-$([guid]::NewGuid().ToString('N')).ps1"
        Set-Content -LiteralPath $file -Value $ScriptBlock.ToString() -Encoding utf8NoBOM
        $saved = $env:PATH
        $env:PATH = $PathValue
        try { & $PwshPath -NoProfile -NonInteractive -File $file @ArgumentList 2>&1 | Out-String -Width 250 }
        finally { $env:PATH = $saved }
    }
}
AfterAll {
    Stop-RouterHostsDevAgent
    Remove-TestSession
}

Describe 'Start-RouterHostsDevAgent' {
    AfterEach { Stop-RouterHostsDevAgent }

    It 'starts a real agent under -Path, writes nothing, and makes it the default connection' {
        $path = Join-Path $TestDrive 'quiet'
        $out = Start-RouterHostsDevAgent -Path $path -AgentPath $AgentDll
        $out | Should -BeNullOrEmpty
        Test-RouterHostsAgent | Should -BeTrue
        Add-RouterHost 10.80.0.1 dev-quiet
        (Get-RouterHost dev-quiet).IPAddress | Should -Be '10.80.0.1'
        foreach ($file in 'client.json', 'hosts', 'agent.log', 'routerhosts.db', 'pki/ca.crt') {
            Join-Path $path $file | Should -Exist
        }
        Get-Content -LiteralPath (Join-Path $path 'agent.log') -Raw | Should -Match 'ready'
        # The default is the dev agent, not the one TestSetup connected.
        Get-RouterHost -Connection $Connection -Hostname dev-quiet -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It '-PassThru writes the connection; -NotDefault writes it and keeps the default' {
        $a = Start-RouterHostsDevAgent -Path (Join-Path $TestDrive 'a') -AgentPath $AgentDll -PassThru
        $a | Should -BeOfType ([RouterHosts.RouterHostsConnection])
        $a.IsDefault | Should -BeTrue
        $b = Start-RouterHostsDevAgent -Path (Join-Path $TestDrive 'b') -AgentPath $AgentDll -NotDefault
        $b.IsDefault | Should -BeFalse
        $a.IsDefault | Should -BeTrue
        Add-RouterHost 10.80.1.1 only-on-b -Connection $b
        Get-RouterHost only-on-b -Connection $b | Should -Not -BeNullOrEmpty
        Get-RouterHost only-on-b -Connection $a -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'starts nothing with -WhatIf' {
        $path = Join-Path $TestDrive 'whatif'
        Start-RouterHostsDevAgent -Path $path -AgentPath $AgentDll -WhatIf
        $path | Should -Not -Exist
    }

    It 'names a missing -AgentPath' {
        $missing = Join-Path $TestDrive 'no-such-agent'
        { Start-RouterHostsDevAgent -Path (Join-Path $TestDrive 'x') -AgentPath $missing } |
            Should -Throw -ErrorId 'RouterHostsDevAgentNotFound,RouterHosts.Commands.StartRouterHostsDevAgentCommand' -ExpectedMessage "*$missing*"
    }

    # Skipped on Windows (here and in the next two): the stand-in agents are /bin/sh scripts made executable with chmod.
    It 'reports an agent that exits at start with its exit code and the end of its log' -Skip:$IsWindows {
        $fake = Join-Path $TestDrive 'exits.sh'
        Set-Content -LiteralPath $fake -Value "#!/bin/sh`necho 'cannot bind: the fake agent gives up' >&2`nexit 3"
        chmod +x $fake
        $err = { Start-RouterHostsDevAgent -Path (Join-Path $TestDrive 'exits') -AgentPath $fake } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -Be 'RouterHostsDevAgentFailed,RouterHosts.Commands.StartRouterHostsDevAgentCommand'
        $err.Exception.Message | Should -BeLike '*exited with code 3*'
        $err.ErrorDetails.Message | Should -BeLike '*the fake agent gives up*'
    }

    It 'ends the agent it started when the agent is not ready in time' -Skip:$IsWindows {
        # An "agent" that never answers: it records its pid and waits.
        $fake = Join-Path $TestDrive 'silent.sh'
        $pidFile = Join-Path $TestDrive 'silent.pid'
        Set-Content -LiteralPath $fake -Value "#!/bin/sh`necho `$`$ > '$pidFile'`nexec sleep 600"
        chmod +x $fake
        $err = { Start-RouterHostsDevAgent -Path (Join-Path $TestDrive 'silent') -AgentPath $fake -TimeoutSec 3 } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -BeLike 'RouterHostsDevAgentFailed,*'
        $err.Exception.Message | Should -BeLike '*not ready within 3 s*'
        Wait-ProcessGone ([int](Get-Content -LiteralPath $pidFile)) | Should -BeTrue
    }

    It 'finds routerhosts-agent on PATH when the module ships no agent, and says where it looked when there is none' -Skip:$IsWindows {
        $bin = Join-Path $TestDrive 'bin'
        $null = New-Item -ItemType Directory -Path $bin -Force
        $dotnet = (Get-Command dotnet -CommandType Application | Select-Object -First 1).Source
        Set-Content -LiteralPath (Join-Path $bin 'routerhosts-agent') -Value "#!/bin/sh`nexec '$dotnet' '$AgentDll' `"`$@`""
        chmod +x (Join-Path $bin 'routerhosts-agent')
        $script = {
            param($manifest, $path)
            Import-Module $manifest
            try {
                Start-RouterHostsDevAgent -Path $path
                "ready: $(Test-RouterHostsAgent)"
                Stop-RouterHostsDevAgent
            }
            catch { "error: $($_.FullyQualifiedErrorId): $($_.Exception.Message) | $($_.ErrorDetails.RecommendedAction)" }
        }
        $manifest = Join-Path $BareModule 'RouterHosts.psd1'
        Invoke-PwshWithPath "$bin$([IO.Path]::PathSeparator)$env:PATH" $script $manifest, (Join-Path $TestDrive 'on-path') |
            Should -BeLike '*ready: True*'
        $out = Invoke-PwshWithPath '/nonexistent' $script $manifest, (Join-Path $TestDrive 'none')
        $out | Should -BeLike '*error: RouterHostsDevAgentNotFound,*'
        $out | Should -BeLike '*routerhosts-agent is not on PATH*'
        $out | Should -BeLike '*-AgentPath*'
    }
}

Describe 'Stop-RouterHostsDevAgent' {
    It 'ends the process and closes the connection; with nothing left it does nothing' {
        $c = Start-RouterHostsDevAgent -Path (Join-Path $TestDrive 'stop') -AgentPath $AgentDll -PassThru
        $agentPid = Get-DevAgentPid $c
        $agentPid | Should -Not -BeNullOrEmpty
        $c | Stop-RouterHostsDevAgent
        $c.IsOpen | Should -BeFalse
        Wait-ProcessGone $agentPid | Should -BeTrue
        { Stop-RouterHostsDevAgent -ErrorAction Stop } | Should -Not -Throw
    }

    It 'refuses a connection that is not a dev agent''s, and -WhatIf stops nothing' {
        $Connection | Stop-RouterHostsDevAgent -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].FullyQualifiedErrorId | Should -Be 'RouterHostsDevAgentNotFound,RouterHosts.Commands.StopRouterHostsDevAgentCommand'
        $c = Start-RouterHostsDevAgent -Path (Join-Path $TestDrive 'kept') -AgentPath $AgentDll -PassThru
        Stop-RouterHostsDevAgent -WhatIf
        Test-RouterHostsAgent -Connection $c | Should -BeTrue
        Stop-RouterHostsDevAgent
        $c.IsOpen | Should -BeFalse
    }

    It 'is not needed when pwsh ends or the module is removed: both end the agent' {
        $script = {
            param($manifest, $path, $agentDll, $how)
            Import-Module $manifest
            $c = Start-RouterHostsDevAgent -Path $path -AgentPath $agentDll -PassThru
            $port = $c.Target -replace '.*:'
            (Get-Process | Where-Object { $_.CommandLine -like "*--listen 127.0.0.1:$port*" }).Id
            if ($how -eq 'remove') { Remove-Module RouterHosts; 'removed' }
            # 'exit': pwsh ends with the agent still running
        }
        foreach ($how in 'exit', 'remove') {
            $out = @(Invoke-FreshPwsh -ScriptBlock $script -ArgumentList $RootManifest, (Join-Path $TestDrive "end-$how"), $AgentDll, $how)
            $agentPid = [int]$out[0]
            $agentPid | Should -BeGreaterThan 0
            Wait-ProcessGone $agentPid | Should -BeTrue -Because "the agent should end when pwsh does ($how)"
        }
    }
}
