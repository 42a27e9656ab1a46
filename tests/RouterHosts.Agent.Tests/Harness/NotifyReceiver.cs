using System.Net.Sockets;
using System.Text;

namespace RouterHosts.Agent.Tests.Harness;

/// <summary>
/// Stands in for systemd: a Unix datagram socket the test binds and hands to the
/// agent as NOTIFY_SOCKET; keeps every notification in arrival order.
/// </summary>
public sealed class NotifyReceiver : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly List<string> _messages = [];
    private readonly Task _loop;
    private readonly CancellationTokenSource _stop = new();

    public NotifyReceiver(string path)
    {
        Path = path;
        _socket.Bind(new UnixDomainSocketEndPoint(path));
        _loop = Task.Run(ReceiveLoopAsync);
    }

    public string Path { get; }

    public IReadOnlyList<string> Messages { get { lock (_messages) return _messages.ToList(); } }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        while (!_stop.IsCancellationRequested)
        {
            int received;
            try { received = await _socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            lock (_messages) _messages.Add(Encoding.UTF8.GetString(buffer, 0, received));
        }
    }

    /// <summary>Waits for the <paramref name="occurrence"/>-th notification matching <paramref name="match"/>; returns its index.</summary>
    public async Task<int> WaitForAsync(Func<string, bool> match, string what, int occurrence = 1, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var messages = Messages;
            var found = 0;
            for (var i = 0; i < messages.Count; i++)
                if (match(messages[i]) && ++found == occurrence) return i;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no {what} (#{occurrence}) among the notifications:\n{string.Join("\n---\n", messages)}");
            await Task.Delay(10);
        }
    }

    /// <summary>True when the notification has a line exactly equal to <paramref name="line"/> (e.g. "READY=1").</summary>
    public static bool HasLine(string message, string line) => message.Split('\n').Contains(line);

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        try { _loop.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        try { File.Delete(Path); } catch (IOException) { }
    }
}
