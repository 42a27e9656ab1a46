using System.Text.Json.Nodes;
using RouterHosts.Agent.Tests.Harness;

namespace RouterHosts.Agent.Tests;

/// <summary>
/// The database key as a URL: sqlite:///path and a plain path name a SQLite file,
/// postgres:// a PostgreSQL database with its password from a file or a variable.
/// Each mistake stops the real agent at start with a message naming the key.
/// </summary>
public sealed class DatabaseConfigurationTests : IDisposable
{
    private readonly AgentSite _site = AgentSite.CreateAsync().GetAwaiter().GetResult();

    public void Dispose() => _site.Dispose();

    private void Edit(Action<JsonObject> change)
    {
        change(_site.Config);
        _site.WriteConfig();
    }

    private async Task<string> ExpectRefusedAsync(IDictionary<string, string>? environment = null)
    {
        var (exit, output) = await AgentProcess.RunToExitAsync(_site.Args("--check-config"), _site.Root, environment);
        Assert.True(exit == 2, $"expected exit code 2, got {exit}:\n{output}");
        Assert.DoesNotContain("configuration is valid", output);
        Assert.DoesNotContain("Unhandled exception", output);
        return output;
    }

    private async Task ExpectValidAsync(IDictionary<string, string>? environment = null)
    {
        var (exit, output) = await AgentProcess.RunToExitAsync(_site.Args("--check-config"), _site.Root, environment);
        Assert.True(exit == 0, output);
        Assert.Contains("configuration is valid", output);
    }

    [Fact]
    public async Task An_unknown_scheme_is_refused_naming_the_key()
    {
        Edit(c => c["database"] = "mysql://user@db.example/hosts");
        Assert.Contains($"{_site.ConfigPath}: database: 'mysql' is not a database scheme this agent knows", await ExpectRefusedAsync());
    }

    [Fact]
    public async Task A_sqlite_url_and_a_plain_path_both_name_a_file()
    {
        var file = Path.Combine(_site.Root, "data", "hosts.db");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        Edit(c => c["database"] = "sqlite://" + file);
        await ExpectValidAsync();
        Edit(c => c["database"] = "data/hosts.db");
        await ExpectValidAsync();
        // The URL's path is checked like a plain path.
        Edit(c => c["database"] = "sqlite://" + Path.Combine(_site.HostsFilePath, "hosts.db"));
        Assert.Contains($"{_site.ConfigPath}: database: {_site.HostsFilePath} is a file, not a directory", await ExpectRefusedAsync());
    }

    [Fact]
    public async Task A_postgres_url_is_checked_strictly()
    {
        Edit(c => c["database"] = "postgres://routerhosts@db.example:5432/hosts?pool_size=10&sslmode=verify-full");
        await ExpectValidAsync();

        Edit(c => c["database"] = "postgres://routerhosts:secret@db.example/hosts");
        var withPassword = await ExpectRefusedAsync();
        Assert.Contains($"{_site.ConfigPath}: database: the PostgreSQL URL holds a password: give it in database_password_file or database_password_env", withPassword);
        Assert.DoesNotContain("secret", withPassword);

        Edit(c => c["database"] = "postgres://routerhosts@db.example/hosts?sslmode=sometimes&pool_size=0&colour=blue");
        var output = await ExpectRefusedAsync();
        Assert.Contains("database: the PostgreSQL URL sslmode 'sometimes' is not one of libpq's: disable, allow, prefer, require, verify-ca, verify-full", output);

        Edit(c => c["database"] = "postgres://routerhosts@db.example/hosts?pool_size=0");
        Assert.Contains("database: the PostgreSQL URL pool_size '0' is not a number from 1 to 1000", await ExpectRefusedAsync());
        Edit(c => c["database"] = "postgres://routerhosts@db.example/hosts?colour=blue");
        Assert.Contains("database: the PostgreSQL URL has the unknown parameter 'colour'", await ExpectRefusedAsync());
        Edit(c => c["database"] = "postgres://db.example/hosts");
        Assert.Contains("database: the PostgreSQL URL names no user", await ExpectRefusedAsync());
    }

    [Fact]
    public async Task The_password_comes_from_a_file_or_a_variable_and_is_checked_at_start()
    {
        Edit(c =>
        {
            c["database"] = "postgres://routerhosts@db.example/hosts";
            c["database_password_env"] = "RH_TEST_DB_PASSWORD";
        });
        Assert.Contains($"{_site.ConfigPath}: database_password_env: the variable RH_TEST_DB_PASSWORD is not set", await ExpectRefusedAsync());
        await ExpectValidAsync(new Dictionary<string, string> { ["RH_TEST_DB_PASSWORD"] = "s3cret" });

        var passwordFile = Path.Combine(_site.Root, "db.password");
        Edit(c =>
        {
            c.Remove("database_password_env");
            c["database_password_file"] = "db.password";
        });
        Assert.Contains($"{_site.ConfigPath}: database_password_file: {passwordFile} does not exist", await ExpectRefusedAsync());
        File.WriteAllText(passwordFile, "\n");
        Assert.Contains($"database_password_file: {passwordFile} holds no password on its first line", await ExpectRefusedAsync());
        File.WriteAllText(passwordFile, "s3cret\n");
        await ExpectValidAsync();

        Edit(c => c["database_password_env"] = "RH_TEST_DB_PASSWORD");
        Assert.Contains("database_password_env: is given with database_password_file: give one of them",
            await ExpectRefusedAsync(new Dictionary<string, string> { ["RH_TEST_DB_PASSWORD"] = "s3cret" }));

        // A password for a SQLite file is a mistake, not something to ignore.
        Edit(c =>
        {
            c.Remove("database_password_env");
            c["database"] = "hosts.db";
        });
        Assert.Contains("database_password_file: is only for a postgres:// database", await ExpectRefusedAsync());
    }
}
