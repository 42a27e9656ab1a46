#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# The RouterHosts module as users run it: imported through the root RouterHosts.psd1
# (run ./build.ps1 -Task Assemble or module/assemble.sh first), against a real agent
# started with --dev in $TestDrive on a free loopback port. Every cmdlet, the
# Import-Csv pipeline, -WhatIf, error ids, edit sessions, snapshots, completion, help.
#
#   Invoke-Pester ./pester            (or ./build.ps1 -Task Pester)
#
# ROUTERHOSTS_TEST_AGENT_DLL names the agent's routerhosts-agent.dll; by default the newest
# build under src/RouterHosts.Agent/bin is used.

BeforeAll {
    $RepoRoot = Split-Path -Parent $PSScriptRoot
    $RootManifest = Join-Path $RepoRoot 'RouterHosts.psd1'
    $AssembledManifest = Join-Path $RepoRoot 'artifacts' 'module' 'RouterHosts' 'RouterHosts.psd1'
    if (-not (Test-Path -LiteralPath $AssembledManifest)) {
        throw "The module is not assembled: run ./build.ps1 -Task Assemble (or module/assemble.sh) first."
    }

    $AgentDll = $env:ROUTERHOSTS_TEST_AGENT_DLL
    if (-not $AgentDll) {
        $AgentDll = Get-ChildItem -Path (Join-Path $RepoRoot 'src' 'RouterHosts.Agent' 'bin' '*' 'net10.0' 'routerhosts-agent.dll') -ErrorAction Ignore |
            Sort-Object LastWriteTimeUtc -Descending | Select-Object -First 1 -ExpandProperty FullName
    }
    if (-not $AgentDll -or -not (Test-Path -LiteralPath $AgentDll)) {
        throw "No routerhosts-agent.dll: build the agent (dotnet build src/RouterHosts.Agent) or set ROUTERHOSTS_TEST_AGENT_DLL."
    }

    function Get-FreePort {
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start()
        try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
    }

    function Start-TestAgent {
        param([Parameter(Mandatory)] [string] $Name, [string] $ConfigPath)
        $dataDir = Join-Path $TestDrive $Name
        $null = New-Item -ItemType Directory -Path $dataDir -Force
        $port = Get-FreePort
        $arguments = if ($ConfigPath) {
            @($AgentDll, '--config', $ConfigPath)
        }
        else {
            @($AgentDll, '--dev', '--data-dir', $dataDir, '--listen', "127.0.0.1:$port")
        }
        $out = Join-Path $TestDrive "$Name.out.log"
        $err = Join-Path $TestDrive "$Name.err.log"
        $process = Start-Process -FilePath 'dotnet' -ArgumentList ($arguments | ForEach-Object { '"{0}"' -f $_ }) `
            -RedirectStandardOutput $out -RedirectStandardError $err -PassThru -NoNewWindow
        [pscustomobject]@{
            Name         = $Name
            Process      = $process
            DataDir      = $dataDir
            Port         = $port
            Endpoint     = "127.0.0.1:$port"
            ClientConfig = Join-Path $dataDir 'client.json'
            HostsFile    = Join-Path $dataDir 'hosts'
            Pki          = Join-Path $dataDir 'pki'
            OutLog       = $out
            ErrLog       = $err
        }
    }

    function Get-AgentLog($Agent) {
        (Get-Content -LiteralPath $Agent.OutLog, $Agent.ErrLog -Raw -ErrorAction Ignore) -join "`n"
    }

    function Wait-TestAgent {
        param([Parameter(Mandatory)] $Agent, [Parameter(Mandatory)] $Connection, [int] $TimeoutSec = 90)
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        while (-not (Test-RouterHostsAgent -Connection $Connection)) {
            if ($Agent.Process.HasExited) { throw "the agent $($Agent.Name) exited ($($Agent.Process.ExitCode)):`n$(Get-AgentLog $Agent)" }
            if ([DateTime]::UtcNow -gt $deadline) { throw "the agent $($Agent.Name) did not become ready:`n$(Get-AgentLog $Agent)" }
            Start-Sleep -Milliseconds 200
        }
    }

    function Wait-ClientConfig($Agent) {
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (-not (Test-Path -LiteralPath $Agent.ClientConfig)) {
            if ($Agent.Process.HasExited) { throw "the agent $($Agent.Name) exited ($($Agent.Process.ExitCode)):`n$(Get-AgentLog $Agent)" }
            if ([DateTime]::UtcNow -gt $deadline) { throw "the agent $($Agent.Name) wrote no client.json:`n$(Get-AgentLog $Agent)" }
            Start-Sleep -Milliseconds 100
        }
        Start-Sleep -Milliseconds 200 # let it finish writing
    }

    function Stop-TestAgent($Agent) {
        if ($Agent -and $Agent.Process -and -not $Agent.Process.HasExited) {
            $Agent.Process.Kill($true)
            $null = $Agent.Process.WaitForExit(10000)
        }
    }

    # Runs a script block in a fresh pwsh (for what must not touch this session: import
    # cost, the default connection, help through the assembled manifest).
    function Invoke-FreshPwsh {
        param([Parameter(Mandatory)] [scriptblock] $ScriptBlock, [object[]] $ArgumentList = @(), [hashtable] $Environment = @{})
        $pwsh = (Get-Process -Id $PID).Path
        $saved = @{}
        foreach ($key in $Environment.Keys) {
            $saved[$key] = [Environment]::GetEnvironmentVariable($key)
            [Environment]::SetEnvironmentVariable($key, $Environment[$key])
        }
        try {
            & $pwsh -NoProfile -NonInteractive -Command $ScriptBlock -args $ArgumentList
        }
        finally {
            foreach ($key in $saved.Keys) { [Environment]::SetEnvironmentVariable($key, $saved[$key]) }
        }
    }

    function New-Csv([string] $Name, [string[]] $Lines) {
        $path = Join-Path $TestDrive $Name
        Set-Content -LiteralPath $path -Value $Lines -Encoding utf8NoBOM
        $path
    }

    Import-Module $RootManifest -Force
    $Agent = Start-TestAgent -Name 'agent'
    Wait-ClientConfig $Agent
    $Connection = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig
    Wait-TestAgent -Agent $Agent -Connection $Connection
}

AfterAll {
    Get-Module RouterHosts | Remove-Module -Force
    Stop-TestAgent $Agent
}

Describe 'The module' {
    It 'exports exactly the cmdlets of its manifest, and no functions, aliases or variables' {
        $manifest = Import-PowerShellDataFile -LiteralPath $RootManifest
        $module = Get-Module RouterHosts
        $module | Should -Not -BeNullOrEmpty
        @($module.ExportedCmdlets.Keys | Sort-Object) | Should -Be @($manifest.CmdletsToExport | Sort-Object)
        $module.ExportedCmdlets.Count | Should -Be 20
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
        $result.Cmdlets | Should -Be 20
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
        @($help).Count | Should -Be 20
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

    It 'declares ConfirmImpact High on Restore and Undo only' {
        foreach ($command in Get-Command -Module RouterHosts) {
            $attribute = $command.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
            $expected = if ($command.Name -in 'Restore-RouterHostsSnapshot', 'Undo-RouterHostsEdit') { 'High' } else { 'Medium' }
            "$($attribute.ConfirmImpact)" | Should -Be $expected -Because $command.Name
        }
    }
}

Describe 'Connect-RouterHostsAgent and Disconnect-RouterHostsAgent' {
    It 'returns the connection and makes it the default' {
        $Connection | Should -BeOfType ([RouterHosts.RouterHostsConnection])
        $Connection.Target | Should -Be $Agent.Endpoint
        $Connection.Transport | Should -Be 'mTLS'
        $Connection.ConfigPath | Should -Be (Resolve-Path -LiteralPath $Agent.ClientConfig).Path
        $Connection.IsOpen | Should -BeTrue
        $Connection.IsDefault | Should -BeTrue
    }

    It 'keeps the current default with -NotDefault' {
        $other = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault
        try {
            $other.IsDefault | Should -BeFalse
            $Connection.IsDefault | Should -BeTrue
            Test-RouterHostsAgent -Connection $other | Should -BeTrue
        }
        finally { $other | Disconnect-RouterHostsAgent }
    }

    It 'connects with PEM certificate, key and CA files' {
        $pem = Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -CertificatePath (Join-Path $Agent.Pki 'client.crt') `
            -KeyPath (Join-Path $Agent.Pki 'client.key') -CaPath (Join-Path $Agent.Pki 'ca.crt') -ServerName localhost -NotDefault
        try { Test-RouterHostsAgent -Connection $pem | Should -BeTrue }
        finally { Disconnect-RouterHostsAgent -Connection $pem }
    }

    It 'connects with a PKCS#12 certificate' {
        $pfx = Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -CertificatePath (Join-Path $Agent.Pki 'client.pfx') `
            -CaPath (Join-Path $Agent.Pki 'ca.crt') -ServerName localhost -NotDefault
        try { (Get-RouterHostsAgent -Connection $pfx).Healthy | Should -BeTrue }
        finally { Disconnect-RouterHostsAgent -Connection $pfx }
    }

    It 'resolves relative paths against the current location' {
        Push-Location $Agent.DataDir
        try {
            $relative = Connect-RouterHostsAgent -ConfigPath ./client.json -NotDefault
            try { Test-RouterHostsAgent -Connection $relative | Should -BeTrue } finally { $relative | Disconnect-RouterHostsAgent }
        }
        finally { Pop-Location }
    }

    It 'reports a certificate that cannot be loaded by name, as a terminating error' {
        { Connect-RouterHostsAgent -Endpoint $Agent.Endpoint -CertificatePath (Join-Path $TestDrive 'missing.crt') -KeyPath (Join-Path $TestDrive 'missing.key') `
                -CaPath (Join-Path $Agent.Pki 'ca.crt') -NotDefault } |
            Should -Throw -ErrorId 'RouterHostsInvalidConnectionOptions,RouterHosts.Commands.ConnectRouterHostsAgentCommand'
        { Connect-RouterHostsAgent -ConfigPath (Join-Path $TestDrive 'nope.json') -NotDefault } |
            Should -Throw -ErrorId 'RouterHostsInvalidConnectionOptions,RouterHosts.Commands.ConnectRouterHostsAgentCommand'
    }

    It 'closes a connection; a closed connection cannot be used' {
        $closing = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault
        $closing | Disconnect-RouterHostsAgent
        $closing.IsOpen | Should -BeFalse
        { Get-RouterHost -Connection $closing } | Should -Throw -ErrorId 'RouterHostsNotConnected,RouterHosts.Commands.GetRouterHostCommand'
    }

    It 'without a connection uses the default client configuration, and otherwise says how to connect' {
        $result = Invoke-FreshPwsh -ArgumentList $RootManifest, $Agent.ClientConfig, (Join-Path $TestDrive 'no-such-client.json') -ScriptBlock {
            param($manifest, $clientConfig, $missing)
            Import-Module $manifest
            $env:ROUTERHOSTS_CLIENT_CONFIG = $missing
            $notConnected = try { Get-RouterHost -ErrorAction Stop; 'no error' } catch { $_.FullyQualifiedErrorId + '|' + $_.Exception.Message + '|' + $_.ErrorDetails.Message }
            $env:ROUTERHOSTS_CLIENT_CONFIG = $clientConfig
            $viaDefaultFile = Test-RouterHostsAgent
            Disconnect-RouterHostsAgent
            $afterDisconnectWithFile = Test-RouterHostsAgent   # connects again from the default file
            $env:ROUTERHOSTS_CLIENT_CONFIG = $missing
            Disconnect-RouterHostsAgent
            $afterDisconnect = try { Get-RouterHostsAgent -ErrorAction Stop; 'no error' } catch { $_.FullyQualifiedErrorId }
            [pscustomobject]@{ NotConnected = $notConnected; ViaDefaultFile = $viaDefaultFile; Again = $afterDisconnectWithFile; AfterDisconnect = $afterDisconnect }
        }
        $result.NotConnected | Should -BeLike 'RouterHostsNotConnected,RouterHosts.Commands.GetRouterHostCommand|*'
        $result.NotConnected | Should -BeLike '*Connect-RouterHostsAgent*'
        $result.NotConnected | Should -BeLike '*no-such-client.json*'
        $result.ViaDefaultFile | Should -BeTrue
        $result.Again | Should -BeTrue
        $result.AfterDisconnect | Should -Be 'RouterHostsNotConnected,RouterHosts.Commands.GetRouterHostsAgentCommand'
    }
}

Describe 'Get-RouterHostsAgent and Test-RouterHostsAgent' {
    It 'reports health, version, uptime, the hosts file and the edit session' {
        $status = Get-RouterHostsAgent
        $status | Should -BeOfType ([RouterHosts.RouterHostsAgentStatus])
        $status.Healthy | Should -BeTrue
        $status.Version | Should -Not -BeNullOrEmpty
        $status.Uptime | Should -BeOfType ([timespan])
        $status.Endpoint | Should -Be $Agent.Endpoint
        $status.HostsFilePath | Should -Be $Agent.HostsFile
        $status.HostsFileCurrent | Should -BeTrue
        $status.EditSession | Should -BeNullOrEmpty
        ($status | Format-Table | Out-String) | Should -Match 'Healthy'
    }

    It 'tests true against a live agent' {
        Test-RouterHostsAgent | Should -BeTrue
        Test-RouterHostsAgent -Connection $Connection | Should -BeOfType ([bool])
    }

    Context 'when the agent is down' {
        BeforeAll {
            $dead = Connect-RouterHostsAgent -Endpoint "127.0.0.1:$(Get-FreePort)" -CertificatePath (Join-Path $Agent.Pki 'client.crt') `
                -KeyPath (Join-Path $Agent.Pki 'client.key') -CaPath (Join-Path $Agent.Pki 'ca.crt') -ServerName localhost -NotDefault
        }
        AfterAll { $dead | Disconnect-RouterHostsAgent }

        It 'tests false, with the reason in the verbose stream' {
            $verbose = Test-RouterHostsAgent -Connection $dead -Verbose 4>&1
            @($verbose | Where-Object { $_ -is [bool] }) | Should -Be @($false)
            ($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Match 'not ready'
        }

        It 'stops with one terminating error that says how to fix it' {
            $error.Clear()
            $caught = $null
            try { Get-RouterHost -Connection $dead } catch { $caught = $_ }
            $caught | Should -Not -BeNullOrEmpty
            $caught.FullyQualifiedErrorId | Should -Be 'RouterHostsAgentUnreachable,RouterHosts.Commands.GetRouterHostCommand'
            $caught.CategoryInfo.Category | Should -Be 'ConnectionError'
            "$($caught.ErrorDetails.Message)" | Should -Match 'routerhosts-agent'
            "$($caught.ErrorDetails.Message)" | Should -Match 'Test-RouterHostsAgent'
            $caught.Exception | Should -BeOfType ([RouterHosts.RouterHostsException])
        }

        It 'stops a whole pipeline with one error, not one per row' {
            $rows = 1..20 | ForEach-Object { [pscustomobject]@{ ip = "10.99.0.$_"; hostname = "down$_" } }
            $errors = @()
            $caught = $null
            try { $rows | Add-RouterHost -Connection $dead -ErrorVariable errors -ErrorAction SilentlyContinue } catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -Be 'RouterHostsAgentUnreachable,RouterHosts.Commands.AddRouterHostCommand'
            # the terminating error may also be recorded in -ErrorVariable, but there is no error per row
            @($errors | Where-Object { "$($_.FullyQualifiedErrorId)" -like 'RouterHosts*' }).Count | Should -BeLessOrEqual 1
        }
    }
}

Describe 'Add-RouterHost' {
    It 'adds a host with every field and writes nothing without -PassThru' {
        Add-RouterHost -IPAddress 10.10.0.1 -Hostname add-one -Alias add-one-a, add-one-b -Tag addtest, web -Comment 'front end' | Should -BeNullOrEmpty
        $h = Get-RouterHost -Hostname add-one
        $h.IPAddress | Should -Be '10.10.0.1'
        $h.Aliases | Should -Be @('add-one-a', 'add-one-b')
        $h.Tags | Should -Contain 'addtest'
        $h.Tags | Should -Contain 'web'
        $h.Comment | Should -Be 'front end'
        $h.Version | Should -Not -BeNullOrEmpty
        (Get-Content -LiteralPath $Agent.HostsFile -Raw) | Should -Match '10\.10\.0\.1\s+add-one'
    }

    It 'takes the address and name by position and -PassThru writes RouterHost objects' {
        $h = Add-RouterHost 10.10.0.2 add-two -PassThru
        $h | Should -BeOfType ([RouterHosts.RouterHost])
        $h.Hostname | Should -Be 'add-two'
        $h.Id | Should -Not -BeNullOrEmpty
    }

    It 'accepts lists as arrays or as strings separated by ; or ,' {
        $a = Add-RouterHost 10.10.0.3 add-lists -Tag 'x1;x2' -Alias 'al1,al2' -PassThru
        $a.Tags | Should -Be @('x1', 'x2')
        $a.Aliases | Should -Be @('al1', 'al2')
    }

    It 'adds nothing with -WhatIf' {
        Add-RouterHost 10.10.0.4 add-whatif -WhatIf
        { Get-RouterHost -Hostname add-whatif -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }

    It 'reports a duplicate as RouterHostAlreadyExists, non-terminating' {
        $errors = @()
        Add-RouterHost 10.10.0.1 add-one -ErrorVariable errors -ErrorAction SilentlyContinue
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'RouterHostAlreadyExists,RouterHosts.Commands.AddRouterHostCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        { Add-RouterHost 10.10.0.1 add-one -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostAlreadyExists,RouterHosts.Commands.AddRouterHostCommand'
    }

    Context 'Import-Csv | Add-RouterHost' {
        It 'adds the good rows and gives one non-terminating error, targeting the row, for the bad one' {
            $csv = New-Csv 'hosts.csv' @(
                'ip,hostname,tags,aliases,comment'
                '10.11.0.1,csv-web01,csvtest;web,www1,front end'
                '10.11.0.2,csv-db01,"csvtest,db",,database'
                'not-an-ip,csv-bad,csvtest,,broken'
                '10.11.0.4,csv-app01,csvtest,"app,app1",'
            )
            $errors = @()
            $added = Import-Csv -LiteralPath $csv | Add-RouterHost -PassThru -ErrorVariable errors -ErrorAction SilentlyContinue
            @($added).Count | Should -Be 3
            @($added.Hostname) | Should -Be @('csv-web01', 'csv-db01', 'csv-app01')
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -Be 'RouterHostsInvalidArgument,RouterHosts.Commands.AddRouterHostCommand'
            $errors[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            $errors[0].TargetObject.Hostname | Should -Be 'csv-bad'
            $errors[0].TargetObject.IPAddress | Should -Be 'not-an-ip'

            $web = Get-RouterHost -Hostname csv-web01
            $web.Tags | Should -Be @('csvtest', 'web')
            $web.Aliases | Should -Be @('www1')
            $web.Comment | Should -Be 'front end'
            (Get-RouterHost -Hostname csv-db01).Tags | Should -Be @('csvtest', 'db')
            (Get-RouterHost -Hostname csv-app01).Aliases | Should -Be @('app', 'app1')
            (Get-RouterHost -Hostname csv-app01).Comment | Should -BeNullOrEmpty
            @(Get-RouterHost -Tag csvtest).Count | Should -Be 3
        }

        It 'binds the usual header names: <Header>' -ForEach @(
            @{ Header = 'ip_address,hostname'; Ip = '10.12.0.1'; Name = 'hdr-one' }
            @{ Header = 'IPAddress,Name'; Ip = '10.12.0.2'; Name = 'hdr-two' }
            @{ Header = 'Address,Host'; Ip = '10.12.0.3'; Name = 'hdr-three' }
            @{ Header = 'IP,HostName'; Ip = '10.12.0.4'; Name = 'hdr-four' }
        ) {
            $csv = New-Csv "header-$Name.csv" @($Header, "$Ip,$Name")
            Import-Csv -LiteralPath $csv | Add-RouterHost -ErrorAction Stop
            (Get-RouterHost -Hostname $Name).IPAddress | Should -Be $Ip
        }

        It 'streams a long pipeline over one call, in order, with every row added' {
            $rows = 1..300 | ForEach-Object { [pscustomobject]@{ ip = "10.13.$([int][math]::Floor($_ / 250)).$($_ % 250 + 1)"; hostname = ('bulk{0:000}' -f $_); tags = 'bulktest' } }
            $added = $rows | Add-RouterHost -PassThru -ErrorAction Stop
            @($added).Count | Should -Be 300
            @($added.Hostname) | Should -Be @($rows.hostname)
            @(Get-RouterHost -Tag bulktest).Count | Should -Be 300
        }

        It 'adds nothing with -WhatIf' {
            $csv = New-Csv 'whatif.csv' @('ip,hostname', '10.14.0.1,csv-whatif1', '10.14.0.2,csv-whatif2')
            Import-Csv -LiteralPath $csv | Add-RouterHost -WhatIf
            Get-RouterHost -Hostname 'csv-whatif*' | Should -BeNullOrEmpty
        }
    }

    It 'takes RouterHost objects by property name (Tags, Aliases, Comment)' {
        $copies = Get-RouterHost -Hostname csv-web01 |
            Select-Object @{ n = 'IPAddress'; e = { '10.15.0.1' } }, @{ n = 'Hostname'; e = { 'copy-web01' } }, Tags, Aliases, Comment |
            Add-RouterHost -PassThru
        $copies.Tags | Should -Be @('csvtest', 'web')
        $copies.Aliases | Should -Be @('www1')
        $copies.Comment | Should -Be 'front end'
    }
}

Describe 'Get-RouterHost' {
    BeforeAll {
        $g1 = Add-RouterHost 10.20.0.1 get-web01 -Alias get-www -Tag gettest, web -Comment 'alpha' -PassThru
        $g2 = Add-RouterHost 10.20.0.2 get-web02 -Tag gettest, web -PassThru
        $g3 = Add-RouterHost 10.20.0.3 get-db01 -Tag gettest, db -Comment 'needle in here' -PassThru
    }

    It 'gets by literal hostname, by wildcard, and by alias' {
        (Get-RouterHost get-web01).Id | Should -Be $g1.Id
        @(Get-RouterHost -Hostname 'get-web*').Count | Should -Be 2
        @(Get-RouterHost -Hostname 'GET-WEB0?').Count | Should -Be 2
        (Get-RouterHost -Hostname get-www).Id | Should -Be $g1.Id
        @(Get-RouterHost -Hostname get-web01, get-db01).Count | Should -Be 2
    }

    It 'filters by IP address, tag and text' {
        (Get-RouterHost -IPAddress 10.20.0.2).Hostname | Should -Be 'get-web02'
        @(Get-RouterHost -Tag gettest).Count | Should -Be 3
        @(Get-RouterHost -Tag gettest -Hostname '*web*').Count | Should -Be 2
        (Get-RouterHost -Search needle).Hostname | Should -Be 'get-db01'
        Get-RouterHost -Tag no-such-tag | Should -BeNullOrEmpty
    }

    It 'pages with -First and -Skip' {
        $all = @(Get-RouterHost -Tag gettest)
        @(Get-RouterHost -Tag gettest -First 2).Count | Should -Be 2
        (Get-RouterHost -Tag gettest -Skip 1 -First 1).Id | Should -Be $all[1].Id
    }

    It 'gets by -Id, also from the pipeline by property name' {
        (Get-RouterHost -Id $g2.Id).Hostname | Should -Be 'get-web02'
        @($g1, $g3 | Get-RouterHost).Hostname | Should -Be @('get-web01', 'get-db01')
        [pscustomobject]@{ Id = $g3.Id } | Get-RouterHost | ForEach-Object Hostname | Should -Be 'get-db01'
    }

    It 'gives a non-terminating RouterHostNotFound for a literal name or id that matches nothing, and silence for a wildcard' {
        $errors = @()
        $found = Get-RouterHost -Hostname get-nothing, get-web01 -ErrorVariable errors -ErrorAction SilentlyContinue
        $found.Hostname | Should -Be 'get-web01'
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errors[0].TargetObject | Should -Be 'get-nothing'
        { Get-RouterHost -Id 01ZZZZZZZZZZZZZZZZZZZZZZZZ -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
        $errors = @()
        Get-RouterHost -Hostname 'get-none*' -ErrorVariable errors | Should -BeNullOrEmpty
        $errors.Count | Should -Be 0
    }

    It 'shows a host as it was at a past time with -AsOf' {
        $h = Add-RouterHost 10.20.0.9 get-asof -Comment 'before' -PassThru
        Start-Sleep -Milliseconds 1100
        $middle = Get-Date
        Start-Sleep -Milliseconds 1100
        $h | Set-RouterHost -Comment 'after'
        (Get-RouterHost -Id $h.Id).Comment | Should -Be 'after'
        (Get-RouterHost -Id $h.Id -AsOf $middle).Comment | Should -Be 'before'
        (Get-RouterHost -Hostname get-asof -AsOf $middle).Comment | Should -Be 'before'
    }

    It 'formats as a table of hostname, address, aliases, tags and comment' {
        $text = Get-RouterHost -Tag gettest | Format-Table | Out-String -Width 120
        foreach ($header in 'Hostname', 'IPAddress', 'Aliases', 'Tags', 'Comment') { $text | Should -Match $header }
        $text | Should -Match 'get-www'
        $text | Should -Match 'gettest, web'
    }
}

Describe 'Set-RouterHost' {
    BeforeEach {
        $name = 'set-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $h = Add-RouterHost 10.30.0.1 $name -Alias "$name-a" -Tag settest, keep -Comment 'original' -PassThru
    }

    It 'changes only the fields given' {
        Set-RouterHost -Id $h.Id -Comment 'changed'
        $after = Get-RouterHost -Id $h.Id
        $after.Comment | Should -Be 'changed'
        $after.Tags | Should -Be @('settest', 'keep')
        $after.Aliases | Should -Be @("$name-a")
        $after.IPAddress | Should -Be '10.30.0.1'
        [int]$after.Version | Should -BeGreaterThan ([int]$h.Version)
    }

    It 'changes a piped host and -PassThru writes the result' {
        $changed = Get-RouterHost -Id $h.Id | Set-RouterHost -IPAddress 10.30.0.2 -Tag 'settest;moved' -PassThru
        $changed.IPAddress | Should -Be '10.30.0.2'
        $changed.Tags | Should -Be @('settest', 'moved')
        Set-RouterHost -Id $h.Id -Comment x | Should -BeNullOrEmpty
    }

    It 'clears the comment with an empty string and a list with an empty array' {
        Set-RouterHost -Id $h.Id -Comment '' -Alias @()
        $after = Get-RouterHost -Id $h.Id
        $after.Comment | Should -BeNullOrEmpty
        $after.Aliases | Should -BeNullOrEmpty
        $after.Tags | Should -Be @('settest', 'keep')
    }

    It 'refuses a stale piped host with RouterHostsVersionConflict' {
        $stale = Get-RouterHost -Id $h.Id
        Set-RouterHost -Id $h.Id -Comment 'someone else'
        { $stale | Set-RouterHost -Comment 'mine' -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsVersionConflict,RouterHosts.Commands.SetRouterHostCommand'
        { Set-RouterHost -Id $h.Id -Comment 'mine' -ExpectedVersion $stale.Version -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsVersionConflict,RouterHosts.Commands.SetRouterHostCommand'
        (Get-RouterHost -Id $h.Id).Comment | Should -Be 'someone else'
        $current = Get-RouterHost -Id $h.Id
        Set-RouterHost -Id $h.Id -Comment 'mine' -ExpectedVersion $current.Version
        (Get-RouterHost -Id $h.Id).Comment | Should -Be 'mine'
    }

    It 'takes CSV rows with an id column by property name' {
        [pscustomobject]@{ Id = $h.Id; Comment = 'from csv'; Tags = 'a;b' } | Set-RouterHost -ErrorAction Stop
        $after = Get-RouterHost -Id $h.Id
        $after.Comment | Should -Be 'from csv'
        $after.Tags | Should -Be @('a', 'b')
    }

    It 'changes nothing with -WhatIf' {
        Get-RouterHost -Id $h.Id | Set-RouterHost -Comment 'never' -WhatIf
        (Get-RouterHost -Id $h.Id).Comment | Should -Be 'original'
    }

    It 'reports nothing to change, and unknown ids' {
        { Set-RouterHost -Id $h.Id -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsNothingToSet,RouterHosts.Commands.SetRouterHostCommand'
        { Set-RouterHost -Id 01ZZZZZZZZZZZZZZZZZZZZZZZZ -Comment x -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.SetRouterHostCommand'
    }
}

Describe 'Remove-RouterHost' {
    BeforeEach {
        Get-RouterHost -Tag rmtest | Remove-RouterHost -Confirm:$false
        1..3 | ForEach-Object { Add-RouterHost "10.40.0.$_" "rm-$_" -Tag rmtest }
    }

    It 'removes nothing with -WhatIf' {
        Get-RouterHost -Tag rmtest | Remove-RouterHost -WhatIf
        @(Get-RouterHost -Tag rmtest).Count | Should -Be 3
    }

    It 'removes every piped host' {
        Get-RouterHost -Tag rmtest | Remove-RouterHost -Confirm:$false | Should -BeNullOrEmpty
        Get-RouterHost -Tag rmtest | Should -BeNullOrEmpty
        (Get-Content -LiteralPath $Agent.HostsFile -Raw) | Should -Not -Match 'rm-1'
    }

    It 'removes by id, and reports unknown ids and stale hosts' {
        $one = Get-RouterHost rm-1
        Remove-RouterHost -Id $one.Id -Confirm:$false
        { Get-RouterHost -Id $one.Id -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
        { Remove-RouterHost -Id $one.Id -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.RemoveRouterHostCommand'
        $stale = Get-RouterHost rm-2
        Set-RouterHost -Id $stale.Id -Comment changed
        { $stale | Remove-RouterHost -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsVersionConflict,RouterHosts.Commands.RemoveRouterHostCommand'
        Get-RouterHost rm-2 | Should -Not -BeNullOrEmpty
    }
}

Describe 'Get-RouterHostHistory' {
    It 'lists the events of a host, oldest first' {
        $h = Add-RouterHost 10.45.0.1 hist-one -PassThru
        $h | Set-RouterHost -Comment 'second'
        $history = @(Get-RouterHost hist-one | Get-RouterHostHistory)
        $history.Count | Should -Be 2
        $history[0] | Should -BeOfType ([RouterHosts.RouterHostHistoryEntry])
        $history.EventType | Should -Be @('created', 'updated')
        $history[1].Host.Comment | Should -Be 'second'
        $history[0].HostId | Should -Be $h.Id
        { Get-RouterHostHistory -Id 01ZZZZZZZZZZZZZZZZZZZZZZZZ -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostHistoryCommand'
    }
}

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

Describe 'Edit sessions' {
    BeforeAll {
        $other = Connect-RouterHostsAgent -ConfigPath $Agent.ClientConfig -NotDefault
    }
    AfterEach {
        if ($Connection.HasEditSession) { Undo-RouterHostsEdit -Confirm:$false }
    }
    AfterAll {
        if ($other.HasEditSession) { Undo-RouterHostsEdit -Connection $other -Confirm:$false }
        $other | Disconnect-RouterHostsAgent
    }

    It 'stages changes on the connection and applies them at once on Complete' {
        $edit = Start-RouterHostsEdit
        $edit | Should -BeOfType ([RouterHosts.RouterHostsEdit])
        $edit.IsMine | Should -BeTrue
        $Connection.HasEditSession | Should -BeTrue

        $staged = Add-RouterHost 10.60.0.1 edit-one -Tag edittest -PassThru
        $staged.Staged | Should -BeTrue
        Add-RouterHost 10.60.0.2 edit-two -Tag edittest
        (Get-RouterHost edit-one).Staged | Should -BeTrue
        (Get-RouterHostsEdit).StagedChanges | Should -Be 2
        (Get-RouterHostsAgent).EditSession.StagedChanges | Should -Be 2
        { Get-RouterHost edit-one -Connection $other -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
        (Get-Content -LiteralPath $Agent.HostsFile -Raw) | Should -Not -Match 'edit-one'

        $result = Complete-RouterHostsEdit
        $result | Should -BeOfType ([RouterHosts.RouterHostsEditResult])
        $result.Added | Should -Be 2
        $result.SnapshotId | Should -Not -BeNullOrEmpty
        $Connection.HasEditSession | Should -BeFalse
        (Get-RouterHost edit-one -Connection $other).Staged | Should -BeFalse
        (Get-Content -LiteralPath $Agent.HostsFile -Raw) | Should -Match 'edit-one'
        Get-RouterHostsEdit | Should -BeNullOrEmpty
    }

    It 'stages imports, updates and removals too' {
        $h = Add-RouterHost 10.60.1.1 edit-mixed -PassThru
        $gone = Add-RouterHost 10.60.1.3 edit-gone -PassThru
        Start-RouterHostsEdit | Out-Null
        $h | Set-RouterHost -Comment 'staged'
        $gone | Remove-RouterHost -Confirm:$false
        $path = New-Csv 'edit-import.csv' @('ip_address,hostname', '10.60.1.2,edit-imported')
        (Import-RouterHost -LiteralPath $path -PassThru).Staged | Should -BeTrue
        (Get-RouterHost edit-mixed -Connection $other).Comment | Should -BeNullOrEmpty
        (Get-RouterHost edit-gone -Connection $other).Id | Should -Be $gone.Id
        $result = Complete-RouterHostsEdit
        $result.Added | Should -Be 1
        $result.Changed | Should -Be 1
        $result.Removed | Should -Be 1
        (Get-RouterHost edit-mixed).Comment | Should -Be 'staged'
        Get-RouterHost -Hostname 'edit-gone*' | Should -BeNullOrEmpty
    }

    It 'discards staged changes on Undo (ConfirmImpact High) and -WhatIf keeps them' {
        Start-RouterHostsEdit | Out-Null
        Add-RouterHost 10.60.2.1 edit-undone
        Undo-RouterHostsEdit -WhatIf
        $Connection.HasEditSession | Should -BeTrue
        Undo-RouterHostsEdit -Confirm:$false -PassThru | Should -Be 1
        $Connection.HasEditSession | Should -BeFalse
        { Get-RouterHost edit-undone -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }

    It 'refuses to complete or undo without a session, and a second session while one is open' {
        { Complete-RouterHostsEdit } | Should -Throw -ErrorId 'RouterHostsNoEditSession,RouterHosts.Commands.CompleteRouterHostsEditCommand'
        { Undo-RouterHostsEdit -Confirm:$false } | Should -Throw -ErrorId 'RouterHostsNoEditSession,RouterHosts.Commands.UndoRouterHostsEditCommand'
        Start-RouterHostsEdit | Out-Null
        { Start-RouterHostsEdit } | Should -Throw -ErrorId 'RouterHostsEditInProgress,RouterHosts.Commands.StartRouterHostsEditCommand'
        { Start-RouterHostsEdit -Connection $other } | Should -Throw -ErrorId 'RouterHostsEditInProgress,RouterHosts.Commands.StartRouterHostsEditCommand'
        $seen = Get-RouterHostsEdit -Connection $other
        $seen.IsMine | Should -BeFalse
    }

    It 'starts nothing with -WhatIf' {
        Start-RouterHostsEdit -WhatIf
        $Connection.HasEditSession | Should -BeFalse
        Get-RouterHostsEdit | Should -BeNullOrEmpty
    }

    It 'on conflict applies nothing, keeps the session open and lists every conflict in one terminating error' {
        $victim = Add-RouterHost 10.60.3.1 edit-victim -PassThru
        Start-RouterHostsEdit | Out-Null
        $victim | Set-RouterHost -Comment 'staged change'
        Add-RouterHost 10.60.3.2 edit-extra
        Remove-RouterHost -Id $victim.Id -Connection $other -Confirm:$false   # a live change behind the session's back
        $caught = $null
        try { Complete-RouterHostsEdit } catch { $caught = $_ }
        $caught.FullyQualifiedErrorId | Should -Be 'RouterHostsEditConflict,RouterHosts.Commands.CompleteRouterHostsEditCommand'
        $caught.CategoryInfo.Category | Should -Be 'ResourceBusy'
        "$($caught.ErrorDetails.Message)" | Should -Match 'change 1'
        "$($caught.ErrorDetails.Message)" | Should -Match $victim.Id
        $Connection.HasEditSession | Should -BeTrue
        { Get-RouterHost edit-extra -Connection $other -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }
}

Describe 'Edit session expiry' {
    BeforeAll {
        # A second agent from a configuration file, with a 2-second idle timeout, reusing the dev PKI.
        $expiryDir = Join-Path $TestDrive 'expiry'
        $null = New-Item -ItemType Directory -Path $expiryDir -Force
        $expiryPort = Get-FreePort
        $hostsPath = Join-Path $expiryDir 'hosts'
        Set-Content -LiteralPath $hostsPath -Value "127.0.0.1`tlocalhost" -Encoding utf8NoBOM
        $config = Join-Path $expiryDir 'agent.json'
        @{
            listen       = @("127.0.0.1:$expiryPort")
            tls          = @{ certificate = (Join-Path $Agent.Pki 'server.crt'); key = (Join-Path $Agent.Pki 'server.key'); ca = (Join-Path $Agent.Pki 'ca.crt') }
            database     = (Join-Path $expiryDir 'hosts.db')
            hosts_file   = @{ path = $hostsPath; mode = 'block' }
            edit_session = @{ idle_timeout_seconds = 2 }
        } | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $config -Encoding utf8NoBOM
        $expiryAgent = Start-TestAgent -Name 'expiry-agent' -ConfigPath $config
        $expiring = Connect-RouterHostsAgent -Endpoint "127.0.0.1:$expiryPort" -CertificatePath (Join-Path $Agent.Pki 'client.crt') `
            -KeyPath (Join-Path $Agent.Pki 'client.key') -CaPath (Join-Path $Agent.Pki 'ca.crt') -ServerName localhost -NotDefault
        Wait-TestAgent -Agent $expiryAgent -Connection $expiring
    }
    AfterAll {
        if ($expiring) { $expiring | Disconnect-RouterHostsAgent }
        Stop-TestAgent $expiryAgent
    }

    It 'reports RouterHostsEditExpired and lets later commands go to the live set' {
        Start-RouterHostsEdit -Connection $expiring | Out-Null
        Add-RouterHost 10.61.0.1 expire-staged -Connection $expiring
        Start-Sleep -Seconds 4
        { Add-RouterHost 10.61.0.2 expire-late -Connection $expiring -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsEditExpired,RouterHosts.Commands.AddRouterHostCommand'
        $expiring.HasEditSession | Should -BeFalse
        Add-RouterHost 10.61.0.3 expire-live -Connection $expiring
        (Get-RouterHost expire-live -Connection $expiring).Staged | Should -BeFalse
        { Get-RouterHost expire-staged -Connection $expiring -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostNotFound,RouterHosts.Commands.GetRouterHostCommand'
    }
}

Describe 'Snapshots' {
    BeforeAll {
        Add-RouterHost 10.70.0.1 snap-keep -Tag snaptest
        Add-RouterHost 10.70.0.2 snap-gone -Tag snaptest
        Add-RouterHost 10.70.0.3 snap-changed -Tag snaptest -Comment 'old'
        $snapshot = New-RouterHostsSnapshot "snaptest-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
    }

    It 'creates a snapshot of the current hosts' {
        $snapshot | Should -BeOfType ([RouterHosts.RouterHostsSnapshot])
        $snapshot.Id | Should -Not -BeNullOrEmpty
        $snapshot.Trigger | Should -Be 'manual'
        $snapshot.EntryCount | Should -Be @(Get-RouterHost).Count
        New-RouterHostsSnapshot 'never' -WhatIf
        Get-RouterHostsSnapshot -Name 'never' | Should -BeNullOrEmpty
    }

    It 'lists snapshots by id, name pattern and page' {
        (Get-RouterHostsSnapshot -Id $snapshot.Id).Name | Should -Be $snapshot.Name
        (Get-RouterHostsSnapshot $snapshot.Id).Id | Should -Be $snapshot.Id
        (Get-RouterHostsSnapshot -Name 'snaptest-*').Id | Should -Contain $snapshot.Id
        @(Get-RouterHostsSnapshot -First 1).Count | Should -Be 1
        @(Get-RouterHostsSnapshot).Id | Should -Contain $snapshot.Id
        { Get-RouterHostsSnapshot -Id 01ZZZZZZZZZZZZZZZZZZZZZZZZ -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsSnapshotNotFound,RouterHosts.Commands.GetRouterHostsSnapshotCommand'
    }

    It 'says with -WhatIf what a restore would change, and changes nothing' {
        Get-RouterHost snap-gone | Remove-RouterHost -Confirm:$false
        Get-RouterHost snap-changed | Set-RouterHost -Comment 'new'
        Add-RouterHost 10.70.0.4 snap-new -Tag snaptest
        $before = @(Get-RouterHost | Sort-Object Id | ForEach-Object { "$($_.Id) $($_.Version)" })

        $transcript = Join-Path $TestDrive 'whatif-transcript.txt'
        Start-Transcript -LiteralPath $transcript | Out-Null
        try { Restore-RouterHostsSnapshot -Id $snapshot.Id -WhatIf } finally { Stop-Transcript | Out-Null }
        $text = Get-Content -LiteralPath $transcript -Raw
        $text | Should -Match 'What if: Restoring snapshot'
        $text | Should -Match '\+ snap-gone \(10\.70\.0\.2\)'
        $text | Should -Match '- snap-new \(10\.70\.0\.4\)'
        $text | Should -Match "~ snap-changed \(10\.70\.0\.3\): Comment 'new' -> 'old'"

        @(Get-RouterHost | Sort-Object Id | ForEach-Object { "$($_.Id) $($_.Version)" }) | Should -Be $before
    }

    It 'restores the snapshot after taking a backup, from -Id or the pipeline' {
        $result = Restore-RouterHostsSnapshot -Id $snapshot.Id -Confirm:$false -PassThru
        $result | Should -BeOfType ([RouterHosts.RouterHostsRestoreResult])
        $result.RestoredEntryCount | Should -Be $snapshot.EntryCount
        (Get-RouterHost snap-gone).IPAddress | Should -Be '10.70.0.2'
        (Get-RouterHost snap-changed).Comment | Should -Be 'old'
        Get-RouterHost -Hostname snap-new | Should -BeNullOrEmpty
        $backup = Get-RouterHostsSnapshot -Id $result.BackupSnapshotId
        $backup | Should -Not -BeNullOrEmpty

        Get-RouterHostsSnapshot -Id $backup.Id | Restore-RouterHostsSnapshot -Confirm:$false
        (Get-RouterHost snap-new).IPAddress | Should -Be '10.70.0.4'
        Restore-RouterHostsSnapshot -Id $snapshot.Id -Confirm:$false | Should -BeNullOrEmpty
    }

    It 'removes snapshots, not with -WhatIf, and reports unknown ones' {
        $doomed = New-RouterHostsSnapshot 'doomed'
        $doomed | Remove-RouterHostsSnapshot -WhatIf
        Get-RouterHostsSnapshot -Id $doomed.Id | Should -Not -BeNullOrEmpty
        $doomed | Remove-RouterHostsSnapshot -Confirm:$false
        { Get-RouterHostsSnapshot -Id $doomed.Id -ErrorAction Stop } | Should -Throw -ErrorId 'RouterHostsSnapshotNotFound,RouterHosts.Commands.GetRouterHostsSnapshotCommand'
        { Remove-RouterHostsSnapshot -Id $doomed.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsSnapshotNotFound,RouterHosts.Commands.RemoveRouterHostsSnapshotCommand'
        { Restore-RouterHostsSnapshot -Id $doomed.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsSnapshotNotFound,RouterHosts.Commands.RestoreRouterHostsSnapshotCommand'
    }
}

Describe 'Watch-RouterHost' {
    It 'writes the current set with -Count 1' {
        $change = Watch-RouterHost -Count 1
        $change | Should -BeOfType ([RouterHosts.RouterHostsChange])
        $change.Count | Should -Be @(Get-RouterHost).Count
    }

    It 'follows changes' {
        $job = Start-ThreadJob -ArgumentList $RootManifest, $Connection -ScriptBlock {
            param($manifest, $connection)
            Import-Module $manifest
            Watch-RouterHost -Connection $connection -Count 2
        }
        try {
            # Keep changing things until the watcher has seen a change after its first set
            # (it may take a moment to import the module and open its stream).
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            $i = 0
            while ($job.State -in 'NotStarted', 'Running' -and [DateTime]::UtcNow -lt $deadline) {
                Start-Sleep -Seconds 1
                $i++
                Add-RouterHost "10.80.0.$i" "watch-new$i"
            }
            $job.State | Should -Be 'Completed' -Because "the watcher should have seen a change: $($job.ChildJobs.Error)"
            $sets = @(Receive-Job -Job $job -ErrorAction Stop)
            $sets.Count | Should -Be 2
            $sets[0] | Should -BeOfType ([RouterHosts.RouterHostsChange])
            @($sets[1].Hosts.Hostname -like 'watch-new*').Count | Should -BeGreaterThan @($sets[0].Hosts.Hostname -like 'watch-new*').Count
        }
        finally { Remove-Job -Job $job -Force }
    }

    It 'stops at once on Ctrl+C (StopProcessing cancels the call)' {
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $runspace
        try {
            $null = $ps.AddScript('param($manifest, $connection) Import-Module $manifest; Watch-RouterHost -Connection $connection').
                AddArgument($RootManifest).AddArgument($Connection)
            $async = $ps.BeginInvoke()
            Start-Sleep -Seconds 3
            $ps.InvocationStateInfo.State | Should -Be 'Running'
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 5
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        }
        finally {
            $ps.Dispose()
            $runspace.Dispose()
        }
    }
}

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
