using System.Globalization;
using Microsoft.Extensions.Logging.Console;

namespace RouterHosts.Agent.Systemd;

/// <summary>
/// The agent's log: one line per entry on stdout. Under systemd, when stdout or
/// stderr is the journal stream named by $JOURNAL_STREAM, lines carry syslog
/// priority prefixes ("&lt;6&gt;" for information, "&lt;4&gt;" warning, "&lt;3&gt;" error) and no
/// timestamp (journald adds its own); otherwise plain lines with a time. The level
/// can be changed while running (log_level on SIGHUP).
/// </summary>
public sealed class AgentLogging
{
    private volatile int _level;

    public AgentLogging(LogLevel level) => Level = level;

    public LogLevel Level { get => (LogLevel)_level; set => _level = (int)value; }

    /// <summary>True when our stdout or stderr is the stream systemd connected to the journal.</summary>
    public static bool JournalAttached()
    {
        var value = Environment.GetEnvironmentVariable("JOURNAL_STREAM");
        if (string.IsNullOrEmpty(value)) return false;
        var parts = value.Split(':');
        if (parts.Length != 2 || !ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var device) ||
            !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var inode))
            return false;
        // systemd's advice: the variable is inherited, so check that the stream is still ours.
        return new[] { 1, 2 }.Any(fd => Posix.Stat(fd) is { } id && id.Device == device && id.Inode == inode);
    }

    /// <summary>
    /// Writes why the agent cannot start (configuration, TLS, database, listen) on stderr, one
    /// "routerhosts-agent: ..." line per problem. To the journal with the err priority ("&lt;3&gt;"),
    /// so that `journalctl -p err -u router-hosts-agent` shows it; journald would file an
    /// unprefixed line as info.
    /// </summary>
    public static async Task WriteFatalAsync(IEnumerable<string> problems)
    {
        var journal = JournalAttached();
        foreach (var problem in problems)
        {
            var text = $"routerhosts-agent: {problem}";
            // journald takes the prefix per line: each line of a longer message gets its own.
            if (journal) text = string.Join('\n', text.Split('\n').Select(line => "<3>" + line));
            await Console.Error.WriteLineAsync(text);
        }
    }

    public static Task WriteFatalAsync(string problem) => WriteFatalAsync([problem]);

    public void Configure(ILoggingBuilder logging, bool journal)
    {
        logging.ClearProviders();
        if (journal)
        {
            logging.AddSystemdConsole(o => { o.IncludeScopes = false; o.TimestampFormat = null; });
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            });
        }
        logging.SetMinimumLevel(LogLevel.Trace);
        logging.AddFilter((category, level) =>
            level >= Level && (category is null || !category.StartsWith("Microsoft.", StringComparison.Ordinal) &&
                !category.StartsWith("Grpc.", StringComparison.Ordinal) || level >= LogLevel.Warning));
    }

    public ILoggerFactory CreateFactory(bool journal) => LoggerFactory.Create(l => Configure(l, journal));
}
