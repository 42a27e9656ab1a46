using System.Collections.ObjectModel;
using System.Reflection;
using System.Runtime.InteropServices;

namespace RouterHosts.Commands.Tests;

/// <summary>One parameter set's view of a parameter (one [Parameter] attribute).</summary>
public sealed record ParameterSetUse(string SetName, bool Mandatory, int? Position, bool ValueFromPipeline, bool ValueFromPipelineByPropertyName)
{
    /// <summary>[Parameter(DontShow = true)]: hidden from completion and the syntax users see.</summary>
    public bool DontShow { get; init; }
}

public sealed record CmdletParameter(string Name, Type Type, IReadOnlyList<string> Aliases, IReadOnlyList<ParameterSetUse> Sets, bool SupportsWildcards,
    IReadOnlyList<string> Attributes)
{
    public const string AllSets = "__AllParameterSets";

    public bool InSet(string set) => Sets.Any(s => s.SetName == set || s.SetName == AllSets);
    public ParameterSetUse? Use(string set) => Sets.FirstOrDefault(s => s.SetName == set) ?? Sets.FirstOrDefault(s => s.SetName == AllSets);
    public bool MandatoryAnywhere => Sets.Any(s => s.Mandatory);
    public bool ByValue => Sets.Any(s => s.ValueFromPipeline);
    public bool ByPropertyName => Sets.Any(s => s.ValueFromPipelineByPropertyName);
    public IEnumerable<string> NameAndAliases => Aliases.Prepend(Name);
}

public sealed record CmdletDefinition(Type Type, string Verb, string Noun, bool SupportsShouldProcess, int ConfirmImpact,
    string? DefaultParameterSetName, IReadOnlyList<Type> OutputTypes, IReadOnlyList<CmdletParameter> Parameters)
{
    public string Name => $"{Verb}-{Noun}";

    /// <summary>The parameter sets PowerShell would see (a cmdlet with none has one, "__AllParameterSets").</summary>
    public IReadOnlyList<string> ParameterSets
    {
        get
        {
            var named = Parameters.SelectMany(p => p.Sets).Select(s => s.SetName).Where(s => s != CmdletParameter.AllSets).Distinct().ToList();
            return named.Count > 0 ? named : [CmdletParameter.AllSets];
        }
    }

    public CmdletParameter Parameter(string name) => Parameters.Single(p => p.Name == name);
}

/// <summary>
/// The cmdlets of the built RouterHosts.Commands.dll, read with MetadataLoadContext and
/// CustomAttributeData: the attribute data as compiled, independent of the
/// PowerShellStandard.Library stub's run-time behaviour.
/// </summary>
public sealed class CmdletCatalog : IDisposable
{
    public const string ConfirmImpactNone = "None";
    public const int ConfirmImpactHigh = 3;
    public const int ConfirmImpactMedium = 2;

    private readonly MetadataLoadContext _context;

    private CmdletCatalog(MetadataLoadContext context, Assembly commands, Assembly model, IReadOnlyList<CmdletDefinition> cmdlets)
    {
        _context = context;
        Commands = commands;
        Model = model;
        Cmdlets = cmdlets;
    }

    public Assembly Commands { get; }
    public Assembly Model { get; }
    public IReadOnlyList<CmdletDefinition> Cmdlets { get; }
    public MetadataLoadContext Context => _context;

    public CmdletDefinition this[string name] => Cmdlets.Single(c => c.Name == name);

    public static CmdletCatalog Load(string commandsAssemblyPath, string dependencyDirectory)
    {
        var moduleDirectory = Path.GetDirectoryName(commandsAssemblyPath)!;
        var paths = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        void Add(string path) => paths.TryAdd(Path.GetFileNameWithoutExtension(path), path);
        Add(commandsAssemblyPath);
        foreach (var dll in Directory.GetFiles(moduleDirectory, "*.dll")) Add(dll);
        if (Directory.Exists(dependencyDirectory))
            foreach (var dll in Directory.GetFiles(dependencyDirectory, "*.dll")) Add(dll);
        // The reference stub stands in for PowerShell's System.Management.Automation.
        Add(typeof(System.Management.Automation.PSCmdlet).Assembly.Location);
        foreach (var dll in Directory.GetFiles(RuntimeEnvironment.GetRuntimeDirectory(), "*.dll")) Add(dll);

        var context = new MetadataLoadContext(new PathAssemblyResolver(paths.Values));
        var commands = context.LoadFromAssemblyPath(commandsAssemblyPath);
        var model = context.LoadFromAssemblyName("RouterHosts.Model");
        var cmdlets = commands.GetTypes()
            .Select(t => (Type: t, Cmdlet: Attribute(t, "System.Management.Automation.CmdletAttribute")))
            .Where(x => x.Cmdlet is not null)
            .Select(x => ReadCmdlet(x.Type, x.Cmdlet!))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToList();
        return new CmdletCatalog(context, commands, model, cmdlets);
    }

    private static CmdletDefinition ReadCmdlet(Type type, CustomAttributeData cmdlet)
    {
        var outputTypes = type.GetCustomAttributesData()
            .Where(a => a.AttributeType.FullName == "System.Management.Automation.OutputTypeAttribute")
            .SelectMany(a => a.ConstructorArguments)
            .SelectMany(Flatten)
            .OfType<Type>()
            .ToList();
        var parameters = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(ReadParameter)
            .OfType<CmdletParameter>()
            .ToList();
        return new CmdletDefinition(type, (string)cmdlet.ConstructorArguments[0].Value!, (string)cmdlet.ConstructorArguments[1].Value!,
            Named(cmdlet, "SupportsShouldProcess") is true,
            Named(cmdlet, "ConfirmImpact") is int impact ? impact : ConfirmImpactMedium,
            Named(cmdlet, "DefaultParameterSetName") as string,
            outputTypes, parameters);
    }

    private static CmdletParameter? ReadParameter(PropertyInfo property)
    {
        var data = property.GetCustomAttributesData();
        var parameterAttributes = data.Where(a => a.AttributeType.FullName == "System.Management.Automation.ParameterAttribute").ToList();
        if (parameterAttributes.Count == 0) return null;
        var sets = parameterAttributes.Select(a => new ParameterSetUse(
            Named(a, "ParameterSetName") as string ?? CmdletParameter.AllSets,
            Named(a, "Mandatory") is true,
            Named(a, "Position") is int position && position != int.MinValue ? position : null,
            Named(a, "ValueFromPipeline") is true,
            Named(a, "ValueFromPipelineByPropertyName") is true) { DontShow = Named(a, "DontShow") is true }).ToList();
        var aliases = data.Where(a => a.AttributeType.FullName == "System.Management.Automation.AliasAttribute")
            .SelectMany(a => a.ConstructorArguments).SelectMany(Flatten).OfType<string>().ToList();
        var wildcards = data.Any(a => a.AttributeType.FullName == "System.Management.Automation.SupportsWildcardsAttribute");
        return new CmdletParameter(property.Name, property.PropertyType, aliases, sets, wildcards,
            data.Select(a => a.AttributeType.FullName ?? a.AttributeType.Name).ToList());
    }

    public static CustomAttributeData? Attribute(MemberInfo member, string fullName) =>
        member.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType.FullName == fullName);

    public static object? Named(CustomAttributeData attribute, string name) =>
        attribute.NamedArguments.Where(n => n.MemberName == name).Select(n => n.TypedValue.Value).FirstOrDefault();

    public static IEnumerable<object?> Flatten(CustomAttributeTypedArgument argument) =>
        argument.Value is ReadOnlyCollection<CustomAttributeTypedArgument> items ? items.Select(i => i.Value) : [argument.Value];

    public void Dispose() => _context.Dispose();
}
