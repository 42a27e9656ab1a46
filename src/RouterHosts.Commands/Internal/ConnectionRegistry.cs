using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;

namespace RouterHosts.Commands.Internal;

/// <summary>
/// The default connection of each runspace (not a global variable): keyed weakly by the
/// runspace, so each runspace (ForEach-Object -Parallel, thread jobs) has its own and a
/// closed runspace does not keep a connection alive.
/// </summary>
internal static class ConnectionRegistry
{
    private sealed class Slot
    {
        public RouterHostsConnection? Connection;
    }

    private static readonly ConditionalWeakTable<object, Slot> Slots = new();
    private static readonly object NoRunspace = new();

    private static Slot Current => Slots.GetValue((object?)Runspace.DefaultRunspace ?? NoRunspace, _ => new Slot());

    /// <summary>The runspace's default connection, if it has an open one.</summary>
    public static RouterHostsConnection? Default
    {
        get
        {
            var connection = Volatile.Read(ref Current.Connection);
            return connection is { IsOpen: true } ? connection : null;
        }
    }

    public static void SetDefault(RouterHostsConnection connection) => Volatile.Write(ref Current.Connection, connection);

    public static bool IsDefault(RouterHostsConnection connection) => ReferenceEquals(Volatile.Read(ref Current.Connection), connection);

    /// <summary>Forgets <paramref name="connection"/> as the default if it is.</summary>
    public static void ClearDefault(RouterHostsConnection connection) =>
        Interlocked.CompareExchange(ref Current.Connection, null, connection);

    /// <summary>Closes and forgets the runspace's default connection (module removal).</summary>
    public static void CloseDefault()
    {
        var connection = Interlocked.Exchange(ref Current.Connection, null);
        connection?.Close();
    }
}
