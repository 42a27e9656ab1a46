using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;

namespace RouterHosts.Agent.Configuration;

/// <summary>
/// Loads agent.json, then environment variables (ROUTERHOSTS_AGENT_section__key), then
/// --section:key=value arguments, each overriding the one before. Before binding,
/// every key is checked against <see cref="AgentOptions"/>: an unknown key, a value
/// of the wrong shape or a file writable by group or others stops the agent with a
/// message that names the key, the file and, for an override, where it came from.
/// Relative paths are taken relative to the file's directory.
/// </summary>
public static class AgentConfiguration
{
    /// <summary>
    /// Only variables with this prefix are the agent's. Others, such as the client library's
    /// ROUTERHOSTS_CLIENT_CONFIG or a test's ROUTERHOSTS_TEST_*, are not read at all; a
    /// misspelt key under this prefix is refused like one in the file.
    /// </summary>
    public const string EnvironmentPrefix = "ROUTERHOSTS_AGENT_";

    public static LoadedConfiguration Load(string path, IReadOnlyList<string> overrides)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new ConfigurationError($"{full}: is a directory, not a configuration file");
        if (AccessProblem(full) is { } denied) throw new ConfigurationError($"{full}: {denied}");
        if (!File.Exists(full)) throw new ConfigurationError($"{full}: configuration file does not exist (use --config FILE, or --dev)");
        CheckFileMode(full);
        CheckOverrideSyntax(full, overrides);

        IConfigurationRoot root;
        try
        {
            root = new ConfigurationBuilder()
                .AddJsonFile(full, optional: false, reloadOnChange: false)
                .AddEnvironmentVariables(EnvironmentPrefix)
                .AddCommandLine(overrides.ToArray())
                .Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            var detail = e.InnerException is { } inner ? $"{e.Message.TrimEnd('.')}: {inner.Message}" : e.Message;
            throw new ConfigurationError($"{full}: {detail}");
        }

        var sources = new ConfigurationSources(full, root);
        var problems = new List<string>();
        CheckShape(root, typeof(AgentOptions), "", sources, problems);
        if (problems.Count > 0) throw new ConfigurationError(problems);

        // Not ErrorOnUnknownConfiguration: the binder compares property names, not [ConfigurationKeyName]s,
        // and would call "log_level" unknown. The shape check above is the check for unknown keys.
        var options = new AgentOptions();
        try
        {
            root.Bind(options);
        }
        catch (InvalidOperationException e)
        {
            // The shape check above should have caught it; keep the binder's words as a last resort.
            throw new ConfigurationError($"{full}: {e.Message}");
        }
        options.Access.Certificates = Flatten(root.GetSection("access:certificates"));
        options.Access.UnixPeers = Flatten(root.GetSection("access:unix_peers"));
        ResolvePaths(options, Path.GetDirectoryName(full)!);
        return new LoadedConfiguration(options, sources);
    }

    /// <summary>
    /// Permission denied, named with the user, when a directory on the way to the file cannot be
    /// entered or the file cannot be read (File.Exists answers false for both). Null otherwise.
    /// </summary>
    private static string? AccessProblem(string full)
    {
        if (OperatingSystem.IsWindows()) return null;
        var user = $"the agent's user {Environment.UserName} (uid {Posix.EffectiveUid})";
        var directories = new List<string>();
        for (var d = Path.GetDirectoryName(full); d is not null; d = Path.GetDirectoryName(d)) directories.Insert(0, d);
        foreach (var directory in directories)
        {
            if (!Directory.Exists(directory)) return null; // really missing: the caller says so
            if (!Posix.Can(directory, Posix.X_OK))
                return $"permission denied: {user} cannot enter the directory {directory} ({Describe(directory)}), so it cannot read the configuration";
        }
        return File.Exists(full) && !Posix.Can(full, Posix.R_OK)
            ? $"permission denied: {user} cannot read the configuration file ({Describe(full)})"
            : null;
    }

    /// <summary>"mode 0750, owner uid 0, group gid 0": what decides who may enter or read the path.</summary>
    private static string Describe(string path)
    {
        var mode = Convert.ToString((int)File.GetUnixFileMode(path) & 0xfff, 8).PadLeft(4, '0');
        var (uid, gid) = RouterHosts.Core.HostsFile.AtomicFile.Owner(path);
        return $"mode {mode}, owner uid {uid}, group gid {gid}";
    }

    /// <summary>A configuration file that others can change would let them run hook commands as the agent.</summary>
    private static void CheckFileMode(string full)
    {
        if (OperatingSystem.IsWindows()) return;
        var mode = File.GetUnixFileMode(full);
        if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
        {
            var who = (mode & UnixFileMode.GroupWrite) != 0 && (mode & UnixFileMode.OtherWrite) != 0 ? "group and others"
                : (mode & UnixFileMode.GroupWrite) != 0 ? "its group" : "others";
            throw new ConfigurationError(
                $"{full}: refusing a configuration file writable by {who} (mode {Convert.ToString((int)mode & 0xfff, 8).PadLeft(4, '0')}); " +
                $"it can name hook commands the agent runs. Fix with: chmod go-w {full}");
        }
        var (owner, _) = RouterHosts.Core.HostsFile.AtomicFile.Owner(full);
        if (owner != 0 && owner != Posix.EffectiveUid)
            throw new ConfigurationError(
                $"{full}: refusing a configuration file owned by uid {owner}, neither root nor the agent's user (uid {Posix.EffectiveUid}): " +
                $"its owner could change the hook commands the agent runs. Fix with: chown root {full}");
    }

    /// <summary>Only --section:key=value is accepted: the binder would silently ignore a stray word.</summary>
    private static void CheckOverrideSyntax(string full, IReadOnlyList<string> overrides)
    {
        foreach (var arg in overrides)
        {
            if (!arg.StartsWith("--", StringComparison.Ordinal) || !arg.Contains('=') || arg.IndexOf('=') == 2)
                throw new ConfigurationError(
                    $"{full}: command line: unexpected argument '{arg}' (overrides are written --section:key=value, e.g. --log_level=Debug)");
        }
    }

    // ---- the shape check: every key known, every value of the property's kind ----

    // The shape check reads the options types' properties by reflection: keep them when trimmed (NativeAOT).
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(AgentOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(UnixSocketOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(TlsOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(HostsFileOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(HooksOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(OutputOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(TelemetryOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(PrometheusOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(OtlpOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(HookOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(SnapshotOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(EditSessionOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(CompactionOptions))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicProperties, typeof(AccessOptions))]
    [UnconditionalSuppressMessage("Trimming", "IL2072", Justification = "every options type is kept by the DynamicDependency attributes above")]
    [UnconditionalSuppressMessage("Trimming", "IL2067", Justification = "every options type is kept by the DynamicDependency attributes above")]
    private static void CheckShape(IConfiguration section, Type type, string path, ConfigurationSources sources, List<string> problems)
    {
        var properties = KeyedProperties(type);
        foreach (var child in section.GetChildren())
        {
            var childPath = Join(path, child.Key);
            if (!properties.TryGetValue(child.Key, out var property))
            {
                var known = string.Join(", ", properties.Keys.Order(StringComparer.Ordinal));
                var hint = Closest(child.Key, properties.Keys) is { } near ? $"did you mean '{Join(path, near)}'? " : "";
                problems.Add(sources.Describe(childPath,
                    $"unknown key ({hint}known keys{(path.Length == 0 ? "" : $" under '{path}'")}: {known})"));
                continue;
            }
            CheckValue(child, property.PropertyType, childPath, sources, problems);
        }
    }

    [UnconditionalSuppressMessage("Trimming", "IL2072", Justification = "every options type is kept by the DynamicDependency attributes on CheckShape")]
    private static void CheckValue(IConfigurationSection section, Type type, string path, ConfigurationSources sources, List<string> problems)
    {
        var children = section.GetChildren().ToList();
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string) || type.IsPrimitive)
        {
            if (children.Count > 0)
            {
                problems.Add(sources.Describe(path, $"must be a single {KindName(type)}, not an object or a list"));
                return;
            }
            var value = section.Value;
            if (value is null || type == typeof(string)) return;
            var ok = type == typeof(int) ? int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                : type == typeof(double) ? double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
                : type == typeof(bool) ? bool.TryParse(value, out _)
                : throw new InvalidOperationException($"no shape check for {type}");
            if (!ok) problems.Add(sources.Describe(path, $"'{value}' is not {KindName(type)}"));
            return;
        }
        if (section.Value is { Length: > 0 } stray)
        {
            problems.Add(sources.Describe(path, $"must be {(IsList(type) ? "a list" : "an object")}, not the value '{stray}'"));
            return;
        }
        if (IsList(type))
        {
            var element = type.GetGenericArguments()[0];
            foreach (var item in children)
            {
                if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    problems.Add(sources.Describe(Join(path, item.Key), "must be a list, not an object"));
                    return;
                }
                CheckValue(item, element, Join(path, item.Key), sources, problems);
            }
            return;
        }
        if (type == typeof(Dictionary<string, string>))
        {
            // Keys such as "uid:1000" arrive split at the colon; they are joined again when bound (see Flatten).
            foreach (var (key, value) in section.AsEnumerable(makePathsRelative: true))
                if (value is not null && key.Length == 0) problems.Add(sources.Describe(path, "must be an object of \"key\": \"value\" pairs"));
            return;
        }
        CheckShape(section, type, path, sources, problems);
    }

    /// <summary>
    /// A map whose keys may hold colons ("uid:1000", a subject): the configuration
    /// system splits them into nested sections, so the leaves are joined back here.
    /// </summary>
    private static Dictionary<string, string> Flatten(IConfigurationSection section) =>
        section.AsEnumerable(makePathsRelative: true)
            .Where(pair => pair.Value is not null && pair.Key.Length > 0)
            .ToDictionary(pair => pair.Key, pair => pair.Value!, StringComparer.OrdinalIgnoreCase);

    private static bool IsList(Type type) => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>);

    private static string KindName(Type type) =>
        type == typeof(int) ? "a whole number" : type == typeof(double) ? "a number" : type == typeof(bool) ? "true or false" : "text value";

    private static Dictionary<string, PropertyInfo> KeyedProperties([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToDictionary(p => p.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name ?? p.Name, StringComparer.OrdinalIgnoreCase);

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}:{key}";

    /// <summary>The known key nearest to a misspelt one, if it is near enough to be a typo.</summary>
    private static string? Closest(string key, IEnumerable<string> known) =>
        known.Select(k => (k, d: Distance(key.ToLowerInvariant(), k)))
            .Where(x => x.d <= Math.Max(2, x.k.Length / 3))
            .OrderBy(x => x.d).Select(x => x.k).FirstOrDefault();

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var previous = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var current = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), previous + (a[i - 1] == b[j - 1] ? 0 : 1));
                previous = current;
            }
        }
        return row[b.Length];
    }

    // ---- relative paths ----

    private static void ResolvePaths(AgentOptions options, string baseDirectory)
    {
        string Resolve(string value) => string.IsNullOrEmpty(value) || Path.IsPathRooted(value) ? value : Path.GetFullPath(value, baseDirectory);
        options.Database = DatabaseUrl.ResolveRelative(options.Database, Resolve);
        if (options.DatabasePasswordFile is { } passwordFile) options.DatabasePasswordFile = Resolve(passwordFile);
        options.HostsFile.Path = Resolve(options.HostsFile.Path);
        foreach (var output in options.Outputs) output.Path = Resolve(output.Path);
        if (options.UnixSocket is { } unix) unix.Path = Resolve(unix.Path);
        if (options.Tls is { } tls)
        {
            tls.Certificate = Resolve(tls.Certificate);
            tls.Key = Resolve(tls.Key);
            tls.Ca = Resolve(tls.Ca);
            if (tls.ServerCa is { } serverCa) tls.ServerCa = Resolve(serverCa);
        }
    }
}

/// <summary>The options as loaded, and where each key came from (for messages).</summary>
public sealed record LoadedConfiguration(AgentOptions Options, ConfigurationSources Sources);

/// <summary>
/// Names the origin of a key in messages: always the configuration file, plus the
/// environment variable or command-line argument when one of those set it.
/// </summary>
public sealed class ConfigurationSources(string file, IConfigurationRoot? root)
{
    /// <summary>For options that were not read from a file (--dev).</summary>
    public static ConfigurationSources Builtin(string label) => new(label, null);

    public string File { get; } = file;

    public string Describe(string key, string problem) => $"{File}: {key}: {problem}{Origin(key)}";

    private string Origin(string key)
    {
        if (root is null) return "";
        foreach (var provider in root.Providers.Reverse())
        {
            if (!provider.TryGet(key, out _) && !provider.GetChildKeys([], key).Any()) continue;
            return provider switch
            {
                EnvironmentVariablesConfigurationProvider => $" (set by the environment variable {VariableFor(key)})",
                CommandLineConfigurationProvider => $" (set on the command line by --{key}=...)",
                _ => "",
            };
        }
        return "";
    }

    /// <summary>The variable that set <paramref name="key"/> (or a key under it), spelt as in the environment.</summary>
    private static string VariableFor(string key)
    {
        var prefix = AgentConfiguration.EnvironmentPrefix;
        foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>().Order(StringComparer.Ordinal))
        {
            if (!name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) continue;
            var asKey = name[prefix.Length..].Replace("__", ":");
            if (asKey.Equals(key, StringComparison.OrdinalIgnoreCase) || asKey.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase))
                return name;
        }
        return prefix + key.Replace(":", "__");
    }
}
