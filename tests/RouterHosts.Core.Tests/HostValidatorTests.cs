using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.Tests;

public sealed class HostValidatorTests
{
    private static CoreException Invalid(Action action)
    {
        var e = Assert.Throws<CoreException>(action);
        Assert.Equal(CoreErrorKind.InvalidArgument, e.Kind);
        return e;
    }

    /// <summary>The message names the field and shows the value (control characters escaped).</summary>
    private static void AssertNames(CoreException e, string field, string value)
    {
        Assert.StartsWith($"invalid {field} ", e.Message);
        Assert.Contains(CoreException.Quote(value), e.Message);
    }

    private static HostDraft Draft(string ip = "10.0.0.1", string hostname = "web", string? comment = null,
        string[]? tags = null, string[]? aliases = null) => new(ip, hostname, comment, tags, aliases);

    // ---------------------------------------------------------------- hostnames

    [Theory]
    [InlineData("a")]
    [InlineData("web-1")]
    [InlineData("a.b.c")]
    [InlineData("Web.Example.COM")]
    [InlineData("123a")]
    [InlineData("1.2.3.example")]
    [InlineData("xn--bcher-kva.example")]
    [InlineData("a-b-c.d-e")]
    public void Valid_hostnames_are_kept_as_given(string hostname)
    {
        Assert.Equal(hostname, HostValidator.CheckHostname("hostname", hostname));
        Assert.Equal(hostname, HostValidator.Normalize(Draft(hostname: hostname)).Hostname);
    }

    [Fact]
    public void Hostname_bounds_are_253_characters_and_63_per_label()
    {
        var label63 = new string('a', 63);
        Assert.Equal(label63, HostValidator.CheckHostname("hostname", label63));
        // 4 labels of 63 + 3 dots = 255; trim to exactly 253.
        var name253 = string.Join('.', label63, label63, label63, new string('b', 61));
        Assert.Equal(253, name253.Length);
        Assert.Equal(name253, HostValidator.CheckHostname("hostname", name253));

        var name254 = name253 + "b";
        AssertNames(Invalid(() => HostValidator.CheckHostname("hostname", name254)), "hostname", name254);
        Assert.Contains("253", Invalid(() => HostValidator.CheckHostname("hostname", name254)).Message);
        var label64 = new string('a', 64) + ".lan";
        var e = Invalid(() => HostValidator.CheckHostname("hostname", label64));
        AssertNames(e, "hostname", label64);
        Assert.Contains("63", e.Message);
    }

    [Theory]
    [InlineData("", "required")]
    [InlineData("-web", "starts or ends with '-'")]
    [InlineData("web-", "starts or ends with '-'")]
    [InlineData("a.-b.c", "starts or ends with '-'")]
    [InlineData("a..b", "empty label")]
    [InlineData(".a", "empty label")]
    [InlineData("a.", "empty label")]
    [InlineData("web_1", "only letters, digits and '-'")]
    [InlineData("web 1", "only letters, digits and '-'")]
    [InlineData("wéb", "only letters, digits and '-'")]
    [InlineData("web*", "only letters, digits and '-'")]
    [InlineData("10.0.0.1:80", "only letters, digits and '-'")]
    [InlineData("8.8.8.8", "RFC 1123")]
    [InlineData("10.1", "RFC 1123")]
    [InlineData("123", "RFC 1123")]
    [InlineData("web.123", "RFC 1123")]
    [InlineData("0x0a", "RFC 1123")]
    [InlineData("0x7f.1", "RFC 1123")]
    [InlineData("web\n10.0.0.1 evil", "control character U+000A")]
    [InlineData("web\r", "control character U+000D")]
    [InlineData("web\0", "control character U+0000")]
    [InlineData("web\tx", "control character U+0009")]
    [InlineData("web\u2028x", "U+2028")]
    [InlineData("web\u2029x", "U+2029")]
    [InlineData("web\u0085x", "U+0085")]
    public void Invalid_hostnames_are_refused_naming_field_and_value(string hostname, string rule)
    {
        var e = Invalid(() => HostValidator.Normalize(Draft(hostname: hostname)));
        AssertNames(e, "hostname", hostname);
        Assert.Contains(rule, e.Message);
    }

    [Fact]
    public void A_null_hostname_is_refused()
    {
        var e = Invalid(() => HostValidator.Normalize(new HostDraft("10.0.0.1", null!)));
        Assert.Contains("invalid hostname (none): a hostname is required", e.Message);
    }

    // ---------------------------------------------------------------- IP addresses

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.1")]
    [InlineData("0.0.0.0", "0.0.0.0")]
    [InlineData("255.255.255.255", "255.255.255.255")]
    [InlineData("::1", "::1")]
    [InlineData("::", "::")]
    [InlineData("2001:DB8:0:0::1", "2001:db8::1")]
    [InlineData("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1")]
    [InlineData("FE80::1", "fe80::1")]
    [InlineData("::ffff:192.168.1.1", "192.168.1.1")]
    [InlineData("::FFFF:C0A8:0101", "192.168.1.1")]
    [InlineData("0:0:0:0:0:ffff:192.168.1.1", "192.168.1.1")]
    [InlineData("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1")]
    [InlineData("2001:0:0:1:0:0:0:1", "2001:0:0:1::1")]
    [InlineData("2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6")]
    public void IPs_are_canonicalised(string given, string canonical)
    {
        Assert.Equal(canonical, HostValidator.CanonicalIp(given));
        Assert.Equal(canonical, HostValidator.Normalize(Draft(ip: given)).IpAddress);
    }

    [Theory]
    [InlineData("", "required")]
    [InlineData("10.1", "four decimal parts")]
    [InlineData("10.0.1", "four decimal parts")]
    [InlineData("12345", "four decimal parts")]
    [InlineData("0x0a.0.0.1", "four decimal parts")]
    [InlineData("010.0.0.1", "")]          // would parse as octal 8.0.0.1
    [InlineData("10.0.0.01", "")]
    [InlineData("1.2.3.4.5", "")]
    [InlineData("10.0.0.256", "")]
    [InlineData("10.0.0.1/24", "CIDR")]
    [InlineData("2001:db8::/32", "CIDR")]
    [InlineData("fe80::1%eth0", "zone")]
    [InlineData("fe80::1%2", "zone")]
    [InlineData(" 10.0.0.1", "")]
    [InlineData("10.0.0.1 ", "")]
    [InlineData("localhost", "")]
    [InlineData("2001:db8::g", "")]
    [InlineData("1::2::3", "")]
    [InlineData("[::1]", "")]
    [InlineData("[::1]:80", "")]             // a port must not be dropped silently
    [InlineData("10.0.0.1\n10.0.0.2 evil", "U+000A")]
    [InlineData("10.0.0.1\0", "U+0000")]
    [InlineData("::1\u2028", "U+2028")]
    public void Invalid_IPs_are_refused_naming_field_and_value(string ip, string rule)
    {
        var e = Invalid(() => HostValidator.Normalize(Draft(ip: ip)));
        AssertNames(e, "ip_address", ip);
        Assert.Contains(rule, e.Message);
    }

    [Fact]
    public void A_null_IP_is_refused()
    {
        var e = Invalid(() => HostValidator.CanonicalIp(null));
        Assert.StartsWith("invalid ip_address (none)", e.Message);
    }

    [Fact]
    public void Ips_order_numerically_with_ipv4_before_ipv6()
    {
        string[] sorted = ["0.0.0.0", "9.0.0.1", "10.0.0.2", "10.0.0.10", "192.168.0.1", "255.255.255.255", "::", "::1", "2001:db8::1", "fe80::1"];
        var shuffled = sorted.Reverse().ToList();
        shuffled.Sort(HostValidator.CompareIp);
        Assert.Equal(sorted, shuffled);
    }

    // ---------------------------------------------------------------- aliases

    [Fact]
    public void Aliases_up_to_50_are_fine_and_51_are_not()
    {
        var fifty = Enumerable.Range(0, 50).Select(i => $"alias{i}").ToArray();
        Assert.Equal(fifty, HostValidator.Normalize(Draft(aliases: fifty)).Aliases);
        var e = Invalid(() => HostValidator.Normalize(Draft(aliases: [.. fifty, "one-more"])));
        Assert.StartsWith("invalid aliases '51 aliases'", e.Message);
        Assert.Contains("at most 50", e.Message);
    }

    [Theory]
    [InlineData("10.0.0.2", "RFC 1123")]
    [InlineData("1.2.3.4", "RFC 1123")]
    [InlineData("WEB", "may not repeat")]
    [InlineData("web", "may not repeat")]
    [InlineData("bad_alias", "only letters")]
    [InlineData("-x", "starts or ends")]
    [InlineData("", "required")]
    [InlineData("www\n10.0.0.1 evil", "U+000A")]
    [InlineData("www\u2028evil", "U+2028")]
    public void Invalid_aliases_are_refused_naming_the_alias(string alias, string rule)
    {
        var e = Invalid(() => HostValidator.Normalize(Draft(hostname: "web", aliases: ["ok", alias])));
        AssertNames(e, "alias", alias);
        Assert.Contains(rule, e.Message);
    }

    [Fact]
    public void Duplicate_aliases_are_refused_case_insensitively()
    {
        var e = Invalid(() => HostValidator.Normalize(Draft(aliases: ["www", "mail", "WWW"])));
        AssertNames(e, "alias", "WWW");
        Assert.Contains("duplicate alias", e.Message);
    }

    // ---------------------------------------------------------------- tags

    [Fact]
    public void Tags_up_to_50_of_up_to_64_characters_are_fine()
    {
        var fifty = Enumerable.Range(0, 50).Select(i => $"t{i}").ToArray();
        Assert.Equal(fifty, HostValidator.Normalize(Draft(tags: fifty)).Tags);
        var e = Invalid(() => HostValidator.Normalize(Draft(tags: [.. fifty, "x"])));
        Assert.StartsWith("invalid tags '51 tags'", e.Message);

        var tag64 = new string('t', 64);
        Assert.Equal([tag64], HostValidator.Normalize(Draft(tags: [tag64])).Tags);
        var tag65 = new string('t', 65);
        e = Invalid(() => HostValidator.Normalize(Draft(tags: [tag65])));
        AssertNames(e, "tag", tag65);
        Assert.Contains("64", e.Message);
    }

    [Fact]
    public void Tags_allow_their_punctuation_and_repeated_tags_collapse_case_insensitively()
    {
        Assert.Equal(["k8s:node", "rack/1", "a=b", "u@h", "p+q", "a_b", "a.b", "a-b"],
            HostValidator.Normalize(Draft(tags: ["k8s:node", "rack/1", "a=b", "u@h", "p+q", "a_b", "a.b", "a-b"])).Tags);
        Assert.Equal(["Prod", "dev"], HostValidator.Normalize(Draft(tags: ["Prod", "dev", "prod", "PROD"])).Tags);
    }

    [Theory]
    [InlineData("", "empty tag")]
    [InlineData("  ", "empty tag")]
    [InlineData("a b", "may contain only")]
    [InlineData("a,b", "may contain only")]
    [InlineData("a;b", "may contain only")]
    [InlineData("[x]", "may contain only")]
    [InlineData("tag\n10.0.0.1 evil", "U+000A")]
    [InlineData("tag\r", "U+000D")]
    [InlineData("tag\0", "U+0000")]
    [InlineData("tag\t", "U+0009")]
    [InlineData("tag\u2028", "U+2028")]
    public void Invalid_tags_are_refused_naming_the_tag(string tag, string rule)
    {
        var e = Invalid(() => HostValidator.Normalize(Draft(tags: ["ok", tag])));
        AssertNames(e, "tag", tag);
        Assert.Contains(rule, e.Message);
    }

    // ---------------------------------------------------------------- comments

    [Fact]
    public void Comments_up_to_1024_characters_of_any_printable_text_are_fine()
    {
        var c1024 = new string('c', 1024);
        Assert.Equal(c1024, HostValidator.Normalize(Draft(comment: c1024)).Comment);
        Assert.Equal("Café ☕ [x] # \"q\", 😀", HostValidator.Normalize(Draft(comment: "Café ☕ [x] # \"q\", 😀")).Comment);
        Assert.Null(HostValidator.Normalize(Draft(comment: null)).Comment);
        var c1025 = new string('c', 1025);
        var e = Invalid(() => HostValidator.Normalize(Draft(comment: c1025)));
        AssertNames(e, "comment", c1025);
        Assert.Contains("1024", e.Message);
    }

    [Theory]
    [InlineData("ok\n10.0.0.1 evil", "U+000A")]
    [InlineData("ok\r\n10.0.0.1 evil", "U+000D")]
    [InlineData("ok\0", "U+0000")]
    [InlineData("ok\tx", "U+0009")]
    [InlineData("ok\u2028x", "U+2028")]
    [InlineData("ok\u2029x", "U+2029")]
    [InlineData("ok\u0085x", "U+0085")]
    [InlineData("ok\u001bx", "U+001B")]
    public void Comments_with_line_breaks_or_controls_are_refused(string comment, string rule)
    {
        var e = Invalid(() => HostValidator.Normalize(Draft(comment: comment)));
        AssertNames(e, "comment", comment);
        Assert.Contains(rule, e.Message);
    }

    // ---------------------------------------------------------------- messages

    [Fact]
    public void Messages_show_line_breaks_escaped_so_they_cannot_forge_log_lines()
    {
        foreach (var value in new[] { "web\nevil", "web\u2028evil", "web\u2029evil", "web\u0085evil", "web\revil" })
        {
            var e = Invalid(() => HostValidator.CheckHostname("hostname", value));
            Assert.DoesNotContain('\n', e.Message);
            Assert.DoesNotContain('\r', e.Message);
            Assert.DoesNotContain('\u2028', e.Message);
            Assert.DoesNotContain('\u2029', e.Message);
            Assert.DoesNotContain('\u0085', e.Message);
            Assert.Contains("evil", e.Message);
        }
        Assert.Equal("'web\\u000aevil'", CoreException.Quote("web\nevil"));
        Assert.Equal("(none)", CoreException.Quote(null));
        Assert.Equal("'" + new string('x', 80) + "...'", CoreException.Quote(new string('x', 100)));
    }
}
