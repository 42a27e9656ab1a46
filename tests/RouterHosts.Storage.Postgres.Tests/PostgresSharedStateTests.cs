using RouterHosts.Core.Storage;

namespace RouterHosts.Storage.Postgres.Tests;

/// <summary>
/// The state agents sharing one database keep in it besides hosts: the one edit-session slot and
/// the registry of agents. Two stores on one database stand for two agents.
/// </summary>
public sealed class PostgresSharedStateTests : IDisposable
{
    private readonly TestDatabase _database = new();
    private readonly PostgresHostStore _alpha;
    private readonly PostgresHostStore _beta;

    public PostgresSharedStateTests()
    {
        _alpha = _database.OpenStore();
        _beta = _database.OpenStore();
    }

    public void Dispose()
    {
        _alpha.Dispose();
        _beta.Dispose();
        _database.Dispose();
    }

    private static SharedEditSession Session(string id, string agent, int timeoutSeconds = 900) =>
        new(id, "CN=alice", "CN=alice", agent, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, TimeSpan.FromSeconds(timeoutSeconds), 0);

    [Fact]
    public void One_session_holds_the_slot_until_it_is_ended_then_another_agent_may_take_it()
    {
        Assert.Null(_alpha.TryClaim(Session("s1", "alpha")));
        var holder = _beta.TryClaim(Session("s2", "beta"));
        Assert.NotNull(holder);
        Assert.Equal(("s1", "alpha", true), (holder.SessionId, holder.Agent, holder.IsLive));

        Assert.True(_alpha.Touch("s1", 3));
        Assert.Equal(3, _beta.Read()!.StagedChanges);
        Assert.True(_beta.End("s1", "CN=admin at noon"));
        var ended = _alpha.Read()!;
        Assert.Equal(("CN=admin at noon", false), (ended.EndedBy, ended.IsLive));
        Assert.False(_alpha.Touch("s1", 4)); // the agent that started it learns it is over
        Assert.False(_alpha.End("s1", "again"));

        Assert.Null(_beta.TryClaim(Session("s2", "beta")));
        Assert.Equal("s2", _alpha.Read()!.SessionId);
    }

    [Fact]
    public void Of_many_agents_claiming_at_once_exactly_one_gets_the_slot()
    {
        var stores = Enumerable.Range(0, 8).Select(_ => _database.OpenStore()).ToList();
        try
        {
            using var start = new Barrier(stores.Count);
            var results = stores.Select((store, i) => Task.Run(() =>
            {
                start.SignalAndWait();
                return store.TryClaim(Session($"s{i}", $"agent{i}"));
            })).ToArray();
            Task.WaitAll(results);
            var winners = results.Where(r => r.Result is null).ToList();
            Assert.Single(winners);
            var live = _alpha.Read()!;
            Assert.All(results.Where(r => r.Result is not null), r => Assert.Equal(live.SessionId, r.Result!.SessionId));
        }
        finally { stores.ForEach(s => s.Dispose()); }
    }

    [Fact]
    public void A_session_idle_past_its_timeout_by_the_database_clock_frees_the_slot()
    {
        Assert.Null(_alpha.TryClaim(Session("short", "alpha", timeoutSeconds: 1)));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (_beta.Read()!.IsLive)
        {
            Assert.True(DateTime.UtcNow < deadline, "the session is still live 30 s after its 1 s idle timeout");
            Thread.Sleep(100);
        }
        Assert.False(_alpha.Touch("short", 1));
        Assert.Null(_beta.TryClaim(Session("next", "beta")));
    }

    [Fact]
    public void A_live_session_left_by_an_agent_that_restarted_is_ended_or_taken_over_by_that_agent()
    {
        Assert.Null(_alpha.TryClaim(Session("before-restart", "alpha")));
        _beta.EndHeldBy("beta", "not mine"); // another agent's name ends nothing
        Assert.True(_alpha.Read()!.IsLive);
        _alpha.EndHeldBy("alpha", "agent alpha restarting");
        Assert.Equal("agent alpha restarting", _beta.Read()!.EndedBy);

        Assert.Null(_alpha.TryClaim(Session("one", "alpha")));
        Assert.Null(_alpha.TryClaim(Session("two", "alpha"))); // the same agent knows it holds no other
        Assert.Equal("two", _beta.Read()!.SessionId);
    }

    [Fact]
    public void Each_agent_has_one_row_by_name_and_hosts_file_updated_as_it_reports()
    {
        var started = DateTimeOffset.UtcNow;
        _alpha.Report(new AgentRecord("alpha", "/etc/hosts", "1.0.0", 5, true, null, started, default));
        _beta.Report(new AgentRecord("beta", "/etc/hosts", "1.0.0", 4, false, "disk full", started, default));
        _alpha.Report(new AgentRecord("alpha", "/etc/hosts", "1.0.1", 7, true, null, started, default));

        var agents = _beta.Agents();
        Assert.Equal(["alpha", "beta"], agents.Select(a => a.Name));
        Assert.Equal(("1.0.1", 7L, true), (agents[0].Version, agents[0].AppliedChangeId, agents[0].FileCurrent));
        Assert.Equal((false, "disk full"), (agents[1].FileCurrent, agents[1].FileError));
        Assert.True(agents[0].SeenAt > started.AddMinutes(-5));
        Assert.Equal(started.ToUnixTimeMilliseconds(), agents[0].StartedAt.ToUnixTimeMilliseconds());
    }
}
