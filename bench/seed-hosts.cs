#:project ../src/RouterHosts.Client/RouterHosts.Client.csproj
// Seeds an agent with COUNT hosts in one import (for bench/agent-startup.sh):
//   dotnet run --file bench/seed-hosts.cs -- UNIX_SOCKET COUNT
using System.Diagnostics;
using System.Text;
using RouterHosts.Client;

if (args.Length != 2 || !int.TryParse(args[1], out var count))
{
    Console.Error.WriteLine("usage: seed-hosts.cs UNIX_SOCKET COUNT");
    return 2;
}
var text = new StringBuilder();
for (var i = 0; i < count; i++)
    text.Append($"10.{100 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}\tbench{i:D6}.lan\t# [bench] seeded host {i}\n");
var timer = Stopwatch.StartNew();
using var client = RouterHostsClient.Connect(new RouterHostsConnectionOptions { UnixSocket = args[0], CallTimeout = TimeSpan.FromMinutes(10) });
var result = await client.ImportAsync(new MemoryStream(Encoding.UTF8.GetBytes(text.ToString())), "hosts");
Console.WriteLine($"imported {result.Created} hosts in {timer.Elapsed.TotalSeconds:0.00} s");
return 0;
