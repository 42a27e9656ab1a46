namespace RouterHosts.Commands.Tests;

/// <summary>The cmdlets' attributes, read from the built assembly (CustomAttributeData, not the stub's run-time objects).</summary>
[Collection(ModuleCollection.Name)]
public sealed class CmdletMetadataTests(ModuleUnderTest module)
{
    /// <summary>PowerShell's approved verbs (Get-Verb in 7.4: the Verbs* classes of System.Management.Automation).</summary>
    private static readonly HashSet<string> ApprovedVerbs = new(StringComparer.Ordinal)
    {
        // VerbsCommon
        "Add", "Clear", "Close", "Copy", "Enter", "Exit", "Find", "Format", "Get", "Hide", "Join", "Lock", "Move", "New", "Open",
        "Optimize", "Pop", "Push", "Redo", "Remove", "Rename", "Reset", "Resize", "Search", "Select", "Set", "Show", "Skip",
        "Split", "Step", "Switch", "Undo", "Unlock", "Watch",
        // VerbsCommunications
        "Connect", "Disconnect", "Read", "Receive", "Send", "Write",
        // VerbsData
        "Backup", "Checkpoint", "Compare", "Compress", "Convert", "ConvertFrom", "ConvertTo", "Dismount", "Edit", "Expand",
        "Export", "Group", "Import", "Initialize", "Limit", "Merge", "Mount", "Out", "Publish", "Restore", "Save", "Sync",
        "Unpublish", "Update",
        // VerbsDiagnostic
        "Debug", "Measure", "Ping", "Repair", "Resolve", "Test", "Trace",
        // VerbsLifecycle
        "Approve", "Assert", "Build", "Complete", "Confirm", "Deny", "Deploy", "Disable", "Enable", "Install", "Invoke",
        "Register", "Request", "Restart", "Resume", "Start", "Stop", "Submit", "Suspend", "Uninstall", "Unregister", "Wait",
        // VerbsSecurity
        "Block", "Grant", "Protect", "Revoke", "Unblock", "Unprotect",
        // VerbsOther
        "Use",
    };

    /// <summary>The issue's cmdlets: exactly these, no more.</summary>
    public static readonly string[] ExpectedCmdlets =
    [
        "Connect-RouterHostsAgent", "Disconnect-RouterHostsAgent", "Get-RouterHostsAgent", "Test-RouterHostsAgent",
        "Add-RouterHost", "Get-RouterHost", "Set-RouterHost", "Remove-RouterHost", "Get-RouterHostHistory",
        "Import-RouterHost", "Export-RouterHost",
        "Start-RouterHostsEdit", "Complete-RouterHostsEdit", "Undo-RouterHostsEdit", "Get-RouterHostsEdit",
        "New-RouterHostsSnapshot", "Get-RouterHostsSnapshot", "Restore-RouterHostsSnapshot", "Remove-RouterHostsSnapshot",
        "Watch-RouterHost", "Invoke-RouterHostsCompaction",
        "Compare-RouterHost", "Sync-RouterHost",
        "Start-RouterHostsDevAgent", "Stop-RouterHostsDevAgent",
    ];

    /// <summary>Cmdlets that change the agent's state (or write a file): they must support -WhatIf/-Confirm.</summary>
    private static readonly string[] StateChanging =
    [
        "Add-RouterHost", "Set-RouterHost", "Remove-RouterHost", "Import-RouterHost", "Export-RouterHost",
        "Start-RouterHostsEdit", "Complete-RouterHostsEdit", "Undo-RouterHostsEdit",
        "New-RouterHostsSnapshot", "Restore-RouterHostsSnapshot", "Remove-RouterHostsSnapshot", "Invoke-RouterHostsCompaction",
        "Sync-RouterHost",
        "Start-RouterHostsDevAgent", "Stop-RouterHostsDevAgent",
    ];

    /// <summary>Cmdlets that write nothing (so they have no OutputType).</summary>
    private static readonly string[] WriteNothing = ["Disconnect-RouterHostsAgent", "Remove-RouterHost", "Remove-RouterHostsSnapshot", "Stop-RouterHostsDevAgent"];

    private IReadOnlyList<CmdletDefinition> Cmdlets => module.Catalog.Cmdlets;

    [Fact]
    public void The_assembly_has_exactly_the_cmdlets_of_the_design()
    {
        Assert.Equal(ExpectedCmdlets.Order(StringComparer.Ordinal), Cmdlets.Select(c => c.Name));
    }

    [Fact]
    public void Every_cmdlet_uses_an_approved_verb_and_the_RouterHost_noun_family()
    {
        foreach (var cmdlet in Cmdlets)
        {
            Assert.True(ApprovedVerbs.Contains(cmdlet.Verb), $"{cmdlet.Name}: '{cmdlet.Verb}' is not an approved verb");
            Assert.StartsWith("RouterHost", cmdlet.Noun);
            Assert.Equal(cmdlet.Verb + cmdlet.Noun + "Command", cmdlet.Type.Name);
            Assert.Equal("RouterHosts.Commands", cmdlet.Type.Namespace);
            Assert.True(cmdlet.Type.IsPublic && cmdlet.Type.IsSealed, $"{cmdlet.Name} should be a public sealed class");
        }
    }

    [Fact]
    public void Entries_are_RouterHost_and_whole_system_things_carry_the_RouterHosts_prefix()
    {
        foreach (var cmdlet in Cmdlets)
        {
            var entryNoun = cmdlet.Noun is "RouterHost" or "RouterHostHistory";
            Assert.True(entryNoun || cmdlet.Noun.StartsWith("RouterHosts", StringComparison.Ordinal), cmdlet.Name);
        }
    }

    [Fact]
    public void Every_state_changing_cmdlet_supports_ShouldProcess_and_read_only_ones_do_not()
    {
        foreach (var cmdlet in Cmdlets)
        {
            var changes = StateChanging.Contains(cmdlet.Name);
            Assert.True(changes == cmdlet.SupportsShouldProcess,
                $"{cmdlet.Name}: SupportsShouldProcess is {cmdlet.SupportsShouldProcess}, expected {changes}");
        }
    }

    [Fact]
    public void Only_Restore_Undo_and_Compaction_have_ConfirmImpact_High()
    {
        var high = Cmdlets.Where(c => c.ConfirmImpact == CmdletCatalog.ConfirmImpactHigh).Select(c => c.Name).Order(StringComparer.Ordinal);
        Assert.Equal(["Invoke-RouterHostsCompaction", "Restore-RouterHostsSnapshot", "Undo-RouterHostsEdit"], high);
    }

    [Fact]
    public void Every_cmdlet_that_writes_declares_its_OutputType_with_our_own_types()
    {
        foreach (var cmdlet in Cmdlets)
        {
            if (WriteNothing.Contains(cmdlet.Name))
            {
                Assert.Empty(cmdlet.OutputTypes);
                continue;
            }
            Assert.True(cmdlet.OutputTypes.Count > 0, $"{cmdlet.Name} has no [OutputType]");
            foreach (var type in cmdlet.OutputTypes)
            {
                var ours = type.Namespace == "RouterHosts";
                var plain = type.FullName is "System.String" or "System.Boolean" or "System.Int32" or "System.IO.FileInfo";
                Assert.True(ours || plain, $"{cmdlet.Name} outputs {type.FullName}");
                Assert.DoesNotContain("Protobuf", type.FullName);
                Assert.NotEqual("System.Management.Automation.PSObject", type.FullName);
            }
        }
    }

    [Fact]
    public void Every_cmdlet_that_talks_to_an_agent_takes_an_optional_Connection()
    {
        foreach (var cmdlet in Cmdlets.Where(c => c.Name is not ("Connect-RouterHostsAgent" or "Start-RouterHostsDevAgent")))
        {
            var connection = cmdlet.Parameter("Connection");
            Assert.Equal("RouterHosts.RouterHostsConnection", connection.Type.FullName);
            Assert.False(connection.MandatoryAnywhere, cmdlet.Name);
        }
    }

    [Theory]
    [InlineData("ip")]
    [InlineData("ip_address")]
    [InlineData("IPAddress")]
    [InlineData("Address")]
    [InlineData("hostname")]
    [InlineData("Name")]
    [InlineData("Host")]
    [InlineData("comment")]
    [InlineData("tags")]
    [InlineData("aliases")]
    public void Add_RouterHost_binds_each_likely_CSV_header_by_property_name(string header)
    {
        var add = module.Catalog["Add-RouterHost"];
        var bound = add.Parameters.Where(p => p.NameAndAliases.Contains(header, StringComparer.OrdinalIgnoreCase)).ToList();
        var parameter = Assert.Single(bound);
        Assert.True(parameter.ByPropertyName, $"-{parameter.Name} (header '{header}') is not ValueFromPipelineByPropertyName");
    }

    [Fact]
    public void Add_RouterHost_binds_every_field_of_a_RouterHost_by_property_name()
    {
        var add = module.Catalog["Add-RouterHost"];
        foreach (var property in new[] { "IPAddress", "Hostname", "Aliases", "Tags", "Comment" })
        {
            Assert.True(module.Catalog.Model.GetType("RouterHosts.RouterHost")!.GetProperty(property) is not null);
            Assert.Contains(add.Parameters, p => p.ByPropertyName && p.NameAndAliases.Contains(property, StringComparer.OrdinalIgnoreCase));
        }
    }

    [Fact]
    public void No_by_value_string_or_object_parameter_shares_a_set_with_by_property_name_parameters()
    {
        foreach (var cmdlet in Cmdlets)
        {
            foreach (var set in cmdlet.ParameterSets)
            {
                var inSet = cmdlet.Parameters.Where(p => p.InSet(set)).ToList();
                // One exception: a hidden PSObject that only keeps the row (for its error's TargetObject).
                // PSObject binds without conversion, so it never turns a row into the string "@{...}".
                var byValueLoose = inSet.Where(p => p.Use(set)!.ValueFromPipeline && IsLoose(p.Type) && !IsRowKeeper(p, set)).ToList();
                var byName = inSet.Where(p => p.Use(set)!.ValueFromPipelineByPropertyName).ToList();
                foreach (var loose in byValueLoose)
                {
                    var others = byName.Where(p => p != loose).Select(p => p.Name).ToList();
                    Assert.True(others.Count == 0,
                        $"{cmdlet.Name} set '{set}': -{loose.Name} ({loose.Type.Name}) takes pipeline input by value while {string.Join(", ", others)} bind by property name");
                }
            }
        }

        static bool IsRowKeeper(CmdletParameter p, string set) =>
            p.Type.FullName == "System.Management.Automation.PSObject" && p.Use(set)!.DontShow;

        static bool IsLoose(Type type)
        {
            var element = type.IsArray ? type.GetElementType()! : type;
            return element.FullName is "System.String" or "System.Object" or "System.Management.Automation.PSObject";
        }
    }

    [Fact]
    public void By_value_pipeline_input_of_our_objects_goes_to_an_InputObject_set()
    {
        foreach (var cmdlet in Cmdlets)
        {
            foreach (var parameter in cmdlet.Parameters.Where(p => p.ByValue && IsEntryOrSnapshot(p.Type)))
            {
                Assert.Equal("InputObject", parameter.Name);
                Assert.All(parameter.Sets, s => Assert.Equal("InputObject", s.SetName));
            }
        }
        foreach (var name in new[] { "Set-RouterHost", "Remove-RouterHost" })
        {
            var input = module.Catalog[name].Parameter("InputObject");
            Assert.Equal("RouterHosts.RouterHost[]", input.Type.FullName);
            Assert.True(input.ByValue && input.MandatoryAnywhere);
            Assert.True(module.Catalog[name].Parameter("Id").ByPropertyName);
        }
    }

    private static bool IsEntryOrSnapshot(Type type)
    {
        var element = type.IsArray ? type.GetElementType()! : type;
        return element.FullName is "RouterHosts.RouterHost" or "RouterHosts.RouterHostsSnapshot";
    }

    [Fact]
    public void Set_RouterHost_fields_bind_by_property_name_only_in_the_Id_set()
    {
        var set = module.Catalog["Set-RouterHost"];
        foreach (var field in new[] { "IPAddress", "NewHostname", "Alias", "Tag", "Comment", "ExpectedVersion" })
        {
            var parameter = set.Parameter(field);
            Assert.True(parameter.Use("Id")!.ValueFromPipelineByPropertyName, field);
            Assert.False(parameter.Use("InputObject")!.ValueFromPipelineByPropertyName, field);
            Assert.False(parameter.Use("Hostname")!.ValueFromPipelineByPropertyName, field);
            Assert.False(parameter.MandatoryAnywhere, field);
        }
    }

    [Fact]
    public void Names_and_aliases_are_unique_within_each_cmdlet()
    {
        // PowerShell refuses to load a cmdlet whose parameter names and aliases collide (case-insensitively).
        var common = new[] { "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable",
            "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable", "WhatIf", "Confirm",
            "vb", "db", "ea", "wa", "infa", "proga", "ev", "wv", "iv", "ov", "ob", "pv", "wi", "cf" };
        foreach (var cmdlet in Cmdlets)
        {
            var names = cmdlet.Parameters.SelectMany(p => p.NameAndAliases).ToList();
            var duplicates = names.GroupBy(n => n, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
            Assert.True(duplicates.Count == 0, $"{cmdlet.Name}: {string.Join(", ", duplicates)}");
            var clash = names.Intersect(common, StringComparer.OrdinalIgnoreCase).ToList();
            Assert.True(clash.Count == 0, $"{cmdlet.Name} reuses common parameter names: {string.Join(", ", clash)}");
        }
    }

    [Fact]
    public void Every_parameter_set_is_unambiguous_by_position()
    {
        foreach (var cmdlet in Cmdlets)
        {
            foreach (var set in cmdlet.ParameterSets)
            {
                var positions = cmdlet.Parameters.Where(p => p.InSet(set)).Select(p => p.Use(set)!.Position).OfType<int>().ToList();
                Assert.True(positions.Count == positions.Distinct().Count(), $"{cmdlet.Name} set '{set}' repeats a position");
            }
            if (cmdlet.ParameterSets.Count > 1 && cmdlet.DefaultParameterSetName is { } defaultSet)
                Assert.Contains(defaultSet, cmdlet.ParameterSets);
        }
    }

    [Fact]
    public void Standard_parameter_names_carry_the_standard_types()
    {
        foreach (var cmdlet in Cmdlets)
        {
            foreach (var parameter in cmdlet.Parameters)
            {
                switch (parameter.Name)
                {
                    case "PassThru" or "NoClobber" or "Raw" or "NotDefault":
                        Assert.Equal("System.Management.Automation.SwitchParameter", parameter.Type.FullName);
                        break;
                    case "Path" or "LiteralPath":
                        Assert.StartsWith("System.String", parameter.Type.FullName);
                        break;
                    case "Id":
                        Assert.StartsWith("System.String", parameter.Type.FullName);
                        break;
                }
            }
        }
        var literal = module.Catalog["Import-RouterHost"].Parameter("LiteralPath");
        Assert.Contains("PSPath", literal.Aliases);
        Assert.True(literal.ByPropertyName);
        Assert.True(module.Catalog["Import-RouterHost"].Parameter("Path").SupportsWildcards);
        Assert.True(module.Catalog["Get-RouterHost"].Parameter("Hostname").SupportsWildcards);
    }

    [Fact]
    public void Only_the_state_changing_sinks_and_exporters_offer_PassThru()
    {
        // Connect changes only the runspace's default connection, and is as quiet as the other sinks.
        foreach (var cmdlet in Cmdlets.Where(c => c.Parameters.Any(p => p.Name == "PassThru") && c.Verb != "Connect"))
            Assert.True(cmdlet.SupportsShouldProcess, $"{cmdlet.Name} has -PassThru but changes nothing");
    }

    [Fact]
    public void Ids_hostnames_tags_and_snapshot_ids_have_argument_completers()
    {
        const string completer = "System.Management.Automation.ArgumentCompleterAttribute";
        string? CompleterOf(string cmdlet, string parameter)
        {
            var property = module.Catalog[cmdlet].Type.GetProperty(parameter)!;
            var data = CmdletCatalog.Attribute(property, completer);
            return (data?.ConstructorArguments[0].Value as Type)?.Name;
        }
        Assert.Equal("HostIdCompleter", CompleterOf("Get-RouterHost", "Id"));
        Assert.Equal("HostIdCompleter", CompleterOf("Set-RouterHost", "Id"));
        Assert.Equal("HostIdCompleter", CompleterOf("Remove-RouterHost", "Id"));
        Assert.Equal("HostIdCompleter", CompleterOf("Get-RouterHostHistory", "Id"));
        Assert.Equal("HostnameCompleter", CompleterOf("Get-RouterHost", "Hostname"));
        Assert.Equal("TagCompleter", CompleterOf("Get-RouterHost", "Tag"));
        Assert.Equal("TagCompleter", CompleterOf("Add-RouterHost", "Tag"));
        Assert.Equal("TagCompleter", CompleterOf("Set-RouterHost", "Tag"));
        Assert.Equal("SnapshotIdCompleter", CompleterOf("Get-RouterHostsSnapshot", "Id"));
        Assert.Equal("SnapshotIdCompleter", CompleterOf("Restore-RouterHostsSnapshot", "Id"));
        Assert.Equal("SnapshotIdCompleter", CompleterOf("Remove-RouterHostsSnapshot", "Id"));
        foreach (var name in new[] { "HostIdCompleter", "HostnameCompleter", "TagCompleter", "SnapshotIdCompleter" })
        {
            var type = module.Catalog.Commands.GetType("RouterHosts.Commands." + name)!;
            Assert.Contains(type.GetInterfaces(), i => i.FullName == "System.Management.Automation.IArgumentCompleter");
        }
    }

    [Fact]
    public void The_module_initializer_registers_the_load_context_resolver_at_import()
    {
        var initializer = module.Catalog.Commands.GetType("RouterHosts.Commands.RouterHostsModuleInitializer")!;
        var interfaces = initializer.GetInterfaces().Select(i => i.FullName).ToList();
        Assert.Contains("System.Management.Automation.IModuleAssemblyInitializer", interfaces);
        Assert.Contains("System.Management.Automation.IModuleAssemblyCleanup", interfaces);
    }
}
