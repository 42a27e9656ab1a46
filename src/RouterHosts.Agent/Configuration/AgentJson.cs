using System.Text.Json.Serialization;

namespace RouterHosts.Agent.Configuration;

/// <summary>Source-generated JSON for the few values the agent serialises (no reflection: trimming and NativeAOT stay possible).</summary>
[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(UnixSocketOptions))]
[JsonSerializable(typeof(HostsFileOptions))]
[JsonSerializable(typeof(List<OutputOptions>))]
[JsonSerializable(typeof(TelemetryOptions))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(int))]
internal sealed partial class AgentJson : JsonSerializerContext;
