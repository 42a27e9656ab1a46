#Requires -Version 7.4
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }

# Declarative sync: Compare-RouterHost and Sync-RouterHost (plan, -WhatIf, one atomic
# commit, idempotence, -Tag scope, -Prune, bad lists refused whole, a concurrent change
# aborting the commit). Against a real agent started by TestSetup.ps1 (see there).
# Each Describe uses its own tag and addresses, so they do not see each other's hosts.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
    function Get-State([string] $Tag) { @(Get-RouterHost -Tag $Tag | Sort-Object Id | ForEach-Object { "$($_.Id) $($_.Version)" }) }
    function Get-SnapshotCount { @(Get-RouterHostsSnapshot).Count }
}
AfterAll { Remove-TestSession }

Describe 'Compare-RouterHost' {
    BeforeAll {
        Add-RouterHost 10.90.0.1 cmp-web01 -Tag cmptest -Comment 'old'
        Add-RouterHost 10.90.0.2 cmp-same01 -Tag cmptest
        Add-RouterHost 10.90.0.3 cmp-gone01 -Tag cmptest
        Add-RouterHost 10.90.0.4 cmp-other01 -Tag cmpother
        $csv = New-Csv 'compare.csv' @(
            'ip_address,hostname,tags,comment,aliases'
            '10.90.0.1,cmp-web01,web,new,'
            '10.90.0.2,cmp-same01,,,'
            '10.90.0.5,cmp-new01,,,cmp-db;cmp-db2'
        )
    }

    It 'returns the exact plan as objects, from Import-Csv rows or -Path, and changes nothing' {
        $before = Get-State cmptest
        $plan = @(Import-Csv -LiteralPath $csv | Compare-RouterHost -Tag cmptest -Prune)
        $plan | ForEach-Object { $_ | Should -BeOfType ([RouterHosts.RouterHostsSyncChange]) }
        @($plan | ForEach-Object ToString) | Should -Be @(
            '+ cmp-new01 (10.90.0.5)'
            '- cmp-gone01 (10.90.0.3)'
            "~ cmp-web01 (10.90.0.1): Tags [cmptest] -> [web, cmptest]; Comment 'old' -> 'new'"
        )
        $plan[0].Desired.Aliases | Should -Be @('cmp-db', 'cmp-db2')
        $plan[0].Row | Should -Be 3
        $plan[2].Fields | Should -Be @('Tags', 'Comment')
        $plan[2].Id | Should -Be (Get-RouterHost cmp-web01).Id

        $fromFile = @(Compare-RouterHost -Path $csv -Tag cmptest -Prune)
        @($fromFile | ForEach-Object ToString) | Should -Be @($plan | ForEach-Object ToString)
        $fromFile[0].Row | Should -Be 4  # the line of the file

        Get-State cmptest | Should -Be $before
    }

    It 'leaves out of the plan what is missing from the list without -Prune, and what is out of scope with -Tag' {
        $plan = @(Import-Csv -LiteralPath $csv | Compare-RouterHost -Tag cmptest)
        $plan.Action | Should -Not -Contain ([RouterHosts.RouterHostsSyncAction]::Remove)
        $plan.Hostname | Should -Not -Contain 'cmp-other01'
    }

    It 'without -Tag compares every host' {
        $plan = @(Import-Csv -LiteralPath $csv | Compare-RouterHost -Prune)
        $removed = @($plan | Where-Object Action -EQ Remove | ForEach-Object Hostname | Sort-Object)
        $expected = @(Get-RouterHost | Where-Object Hostname -NotIn 'cmp-web01', 'cmp-same01' | ForEach-Object Hostname | Sort-Object)
        $removed | Should -Be $expected
    }

    It 'has a table view that reads at 80 columns' {
        $text = Import-Csv -LiteralPath $csv | Compare-RouterHost -Tag cmptest -Prune | Out-String -Width 80
        $text | Should -Match 'Action\s+Hostname\s+IPAddress\s+Detail'
        $text | Should -Match '\+\s+cmp-new01\s+10\.90\.0\.5'
    }
}

Describe 'Sync-RouterHost' {
    BeforeAll {
        Add-RouterHost 10.91.0.1 sync-web01 -Tag synctest -Comment 'old'
        Add-RouterHost 10.91.0.2 sync-gone01 -Tag synctest
        Add-RouterHost 10.91.0.9 sync-prod01 -Tag syncprod
        $csv = New-Csv 'sync.csv' @(
            'ip_address,hostname,tags,comment'
            '10.91.0.1,sync-web01,,new'
            '10.91.0.3,sync-new01,web,'
        )
    }

    It 'prints the plan with -WhatIf as + / - / ~ lines and changes nothing' {
        $before = Get-State synctest
        $snapshots = Get-SnapshotCount
        $transcript = Join-Path $TestDrive 'sync-whatif.txt'
        Start-Transcript -LiteralPath $transcript | Out-Null
        try { Import-Csv -LiteralPath $csv | Sync-RouterHost -Tag synctest -Prune -WhatIf } finally { Stop-Transcript | Out-Null }
        $text = Get-Content -LiteralPath $transcript -Raw
        $text | Should -Match "What if: Syncing .* \(the hosts tagged 'synctest', pruning\): would add 1, remove 1 and change 1 host\(s\); 0 unchanged"
        $text | Should -Match '\+ sync-new01 \(10\.91\.0\.3\)'
        $text | Should -Match '- sync-gone01 \(10\.91\.0\.2\)'
        $text | Should -Match "~ sync-web01 \(10\.91\.0\.1\): Comment 'old' -> 'new'"
        Get-State synctest | Should -Be $before
        Get-SnapshotCount | Should -Be $snapshots
        Get-RouterHostsEdit | Should -BeNullOrEmpty
    }

    It 'applies the plan in one commit with a pre-edit snapshot, leaving other tags alone' {
        $prod = Get-State syncprod
        $result = Import-Csv -LiteralPath $csv | Sync-RouterHost -Tag synctest -Prune
        $result | Should -BeOfType ([RouterHosts.RouterHostsSyncResult])
        $result.Added, $result.Changed, $result.Removed, $result.Unchanged | Should -Be @(1, 1, 1, 0)
        $result.InSync | Should -BeFalse
        (Get-RouterHostsSnapshot -Id $result.SnapshotId).Trigger | Should -Be 'pre-edit'

        @(Get-RouterHost -Tag synctest | ForEach-Object Hostname | Sort-Object) | Should -Be @('sync-new01', 'sync-web01')
        (Get-RouterHost sync-web01).Comment | Should -Be 'new'
        (Get-RouterHost sync-new01).Tags | Should -Be @('web', 'synctest')
        Get-State syncprod | Should -Be $prod
        Get-Content -LiteralPath $Agent.HostsFile -Raw | Should -Match '10\.91\.0\.3\s+sync-new01'
    }

    It 'changes nothing the second time, and says so' {
        $before = Get-State synctest
        $snapshots = Get-SnapshotCount
        $result = Sync-RouterHost -Path $csv -Tag synctest -Prune
        $result.InSync | Should -BeTrue
        $result.Unchanged | Should -Be 2
        ($result | Out-String) | Should -Match 'already in sync; nothing changed'
        $transcript = Join-Path $TestDrive 'sync-whatif-again.txt'
        Start-Transcript -LiteralPath $transcript | Out-Null
        try { Sync-RouterHost -Path $csv -Tag synctest -Prune -WhatIf } finally { Stop-Transcript | Out-Null }
        Get-Content -LiteralPath $transcript -Raw | Should -Match 'already in sync: 2 host\(s\) match; nothing would change'
        Get-State synctest | Should -Be $before
        Get-SnapshotCount | Should -Be $snapshots
    }

    It 'without -Prune keeps hosts in scope that are missing from the list' {
        Add-RouterHost 10.91.0.4 sync-extra01 -Tag synctest
        (Sync-RouterHost -Path $csv -Tag synctest).InSync | Should -BeTrue
        Get-RouterHost sync-extra01 | Should -Not -BeNullOrEmpty
        (Sync-RouterHost -Path $csv -Tag synctest -Prune).Removed | Should -Be 1
        Get-RouterHost sync-extra01 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'refuses a desired host that exists outside the -Tag scope, rather than taking it over' {
        $err = $null
        try { [pscustomobject]@{ IPAddress = '10.91.0.9'; Hostname = 'sync-prod01' } | Sync-RouterHost -Tag synctest -ErrorAction Stop }
        catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'RouterHostsSyncInvalid,RouterHosts.Commands.SyncRouterHostCommand'
        $err.ErrorDetails.Message | Should -Match "row 1: 10\.91\.0\.9 sync-prod01 exists outside the scope of tag 'synctest'"
        (Get-RouterHost sync-prod01).Tags | Should -Be @('syncprod')
    }

    It 'syncs RouterHost objects piped from another query (a copy between tags)' {
        $result = Get-RouterHost -Tag synctest | ForEach-Object {
            [pscustomobject]@{ IPAddress = $_.IPAddress -replace '^10\.91\.', '10.92.'; Hostname = $_.Hostname; Aliases = $_.Aliases; Tags = 'copy' }
        } | Sync-RouterHost -Tag synccopy -Prune
        $result.Added | Should -Be 2
        @(Get-RouterHost -Tag synccopy | ForEach-Object IPAddress | Sort-Object) | Should -Be @('10.92.0.1', '10.92.0.3')
    }

    It 'refuses an empty list with -Prune unless -Force' {
        $before = Get-State synccopy
        { @() | Sync-RouterHost -Tag synccopy -Prune -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsSyncInvalid,RouterHosts.Commands.SyncRouterHostCommand'
        Get-State synccopy | Should -Be $before
        (@() | Sync-RouterHost -Tag synccopy -Prune -Force).Removed | Should -Be 2
    }
}

Describe 'Sync-RouterHost refuses a bad list whole' {
    BeforeAll {
        Add-RouterHost 10.93.0.1 bad-keep01 -Tag badtest
    }

    It 'names every bad pipeline row and applies nothing' {
        $before = Get-State badtest
        $snapshots = Get-SnapshotCount
        $rows = @(
            [pscustomobject]@{ ip = '10.93.0.2'; hostname = 'bad-ok01' }
            [pscustomobject]@{ ip = '10.93.0.999'; hostname = 'bad-ip01' }
            [pscustomobject]@{ ip = '10.93.0.3'; hostname = 'bad_name' }
            [pscustomobject]@{ ip = '10.93.0.2'; hostname = 'BAD-OK01' }
        )
        $err = $null
        try { $rows | Sync-RouterHost -Tag badtest -Prune -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'RouterHostsSyncInvalid,RouterHosts.Commands.SyncRouterHostCommand'
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $message = $err.ErrorDetails.Message
        $message | Should -Match 'The desired list was refused: 3 bad row\(s\); nothing was changed'
        $message | Should -Match "row 2: invalid IP address '10\.93\.0\.999'"
        $message | Should -Match "row 3: invalid hostname 'bad_name'"
        $message | Should -Match 'row 4: 10\.93\.0\.2 BAD-OK01 repeats row 1'
        $message | Should -Not -Match 'row 1:'
        Get-State badtest | Should -Be $before
        Get-SnapshotCount | Should -Be $snapshots
    }

    It 'names the lines of a -Path file, and the agent''s own refusals too' {
        $csv = New-Csv 'bad.csv' @(
            'ip_address,hostname,tags'
            '10.93.0.4,bad-ok02,'
            ''
            '10.93.0.5,bad-tag01,has space'
        )
        $before = Get-State badtest
        $err = $null
        try { Sync-RouterHost -Path $csv -Tag badtest -Prune -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'RouterHostsSyncInvalid,RouterHosts.Commands.SyncRouterHostCommand'
        $err.ErrorDetails.Message | Should -Match 'line 4: .*has space'
        Get-State badtest | Should -Be $before
        Get-RouterHostsEdit | Should -BeNullOrEmpty
    }
}

Describe 'Sync-RouterHost and a concurrent change' {
    BeforeAll {
        # A host that holds Sync-RouterHost at its confirmation prompt (after the plan is read, before
        # it is applied) until the test has made its concurrent change: no timing involved.
        Add-Type -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Threading;

public sealed class SyncTestGateUI : PSHostUserInterface
{
    public readonly ManualResetEventSlim Prompted = new ManualResetEventSlim();
    public readonly ManualResetEventSlim Answer = new ManualResetEventSlim();
    public override PSHostRawUserInterface RawUI => null;
    public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice)
    {
        Prompted.Set();
        Answer.Wait(TimeSpan.FromMinutes(5));
        return 0; // Yes
    }
    public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions) => throw new NotSupportedException();
    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) => throw new NotSupportedException();
    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) => throw new NotSupportedException();
    public override string ReadLine() => "";
    public override SecureString ReadLineAsSecureString() => new SecureString();
    public override void Write(string value) { }
    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) { }
    public override void WriteLine(string value) { }
    public override void WriteErrorLine(string value) { }
    public override void WriteDebugLine(string message) { }
    public override void WriteProgress(long sourceId, ProgressRecord record) { }
    public override void WriteVerboseLine(string message) { }
    public override void WriteWarningLine(string message) { }
}

public sealed class SyncTestGateHost : PSHost
{
    private readonly Guid _id = Guid.NewGuid();
    public readonly SyncTestGateUI Gate = new SyncTestGateUI();
    public override string Name => "SyncTestGateHost";
    public override Version Version => new Version(1, 0);
    public override Guid InstanceId => _id;
    public override PSHostUserInterface UI => Gate;
    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;
    public override void SetShouldExit(int exitCode) { }
    public override void EnterNestedPrompt() => throw new NotSupportedException();
    public override void ExitNestedPrompt() => throw new NotSupportedException();
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }
}
'@
        Add-RouterHost 10.94.0.1 conc-contested01 -Tag conctest -Comment 'before'
        Add-RouterHost 10.94.0.2 conc-doomed01 -Tag conctest
    }

    It 'aborts the commit with the conflict listed and applies nothing' {
        $gateHost = [SyncTestGateHost]::new()
        $runspace = [runspacefactory]::CreateRunspace($gateHost)
        $runspace.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $runspace
        try {
            $null = $ps.AddScript({
                    param($manifest, $config)
                    Import-Module $manifest
                    $connection = Connect-RouterHostsAgent -ConfigPath $config -PassThru
                    $rows = @(
                        [pscustomobject]@{ IPAddress = '10.94.0.1'; Hostname = 'conc-contested01'; Comment = 'mine' }
                        [pscustomobject]@{ IPAddress = '10.94.0.3'; Hostname = 'conc-new01' }
                    )
                    try { $rows | Sync-RouterHost -Connection $connection -Tag conctest -Prune -Confirm -ErrorAction Stop; 'no error' }
                    catch { $_.FullyQualifiedErrorId; $_.ErrorDetails.Message }
                }).AddArgument($RootManifest).AddArgument($Agent.ClientConfig)
            $async = $ps.BeginInvoke()
            # Wait for the real condition: the sync has read its plan and asks for confirmation.
            $gateHost.Gate.Prompted.Wait([TimeSpan]::FromMinutes(3)) | Should -BeTrue
            Get-RouterHost conc-contested01 | Set-RouterHost -Comment 'theirs'
            $before = Get-State conctest
            $gateHost.Gate.Answer.Set()
            $output = @($ps.EndInvoke($async))
        }
        finally {
            $gateHost.Gate.Answer.Set()
            $ps.Dispose()
            $runspace.Dispose()
        }
        $output[0] | Should -Be 'RouterHostsSyncConflict,RouterHosts.Commands.SyncRouterHostCommand'
        $output[1] | Should -Match 'conflicts with 1 change\(s\) made since its plan was read; nothing was applied'
        $output[1] | Should -Match '~ conc-contested01 \(10\.94\.0\.1\): version mismatch'
        Get-State conctest | Should -Be $before
        (Get-RouterHost conc-contested01).Comment | Should -Be 'theirs'
        Get-RouterHost conc-new01 -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-RouterHostsEdit | Should -BeNullOrEmpty
    }
}
