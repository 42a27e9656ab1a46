using System.Text;
using RouterHosts.Core.Formats;
using RouterHosts.Core.Hosts;
using static RouterHosts.Core.Tests.Hosts;

namespace RouterHosts.Core.Tests;

public sealed class FormatsTests
{
    public static readonly TheoryData<string> FormatNames = new() { "hosts", "json", "csv" };

    /// <summary>Entries that stress each format: brackets, quotes, commas, '#', unicode, empty lists, IPv6.</summary>
    private static readonly HostEntry[] Tricky =
    [
        Entry("01A", "10.0.0.1", "web", "front door", ["prod", "web"], ["www", "w"]),
        Entry("01B", "10.0.0.2", "db"),
        Entry("01C", "10.0.0.3", "bracket", "[not tags] but a comment"),
        Entry("01D", "10.0.0.4", "bracket2", "[x] with tags", ["t1"]),
        Entry("01E", "10.0.0.5", "quotes", "says \"hi\", then, commas; and #hash", ["a=b", "k8s:node"]),
        Entry("01F", "10.0.0.6", "Unicode", "Café ☕ 😀 ü", [], ["Alias-Upper"]),
        Entry("01G", "10.0.0.7", "spaces", "  leading and trailing  "),
        Entry("01H", "2001:db8::1", "v6", "ipv6", ["v6"], ["six", "sechs"]),
        Entry("01I", "::1", "tagsonly", null, ["only", "tags"]),
        Entry("01J", "10.0.0.8", "bracketonly", "["),
        Entry("01K", "10.0.0.9", "closing", "] x [y]"),
        Entry("01L", "10.0.0.10", "csvish", "\"quoted at start"),
        Entry("01M", "10.0.0.11", "endsbracket", "see [docs]"),
        Entry("01N", "10.0.0.12", "endsbracket2", "see [docs]", ["t2"]),
        Entry("01O", "10.0.0.13", "emptybrackets", "[]"),
        Entry("01P", "10.0.0.14", "padded", "padded  ", ["p"]),
    ];

    private static byte[] Write(IHostFormat format, IEnumerable<HostEntry> entries)
    {
        var writer = new StringWriter();
        format.WriteStart(writer);
        var first = true;
        foreach (var e in entries)
        {
            format.WriteEntry(writer, e, first);
            first = false;
        }
        format.WriteEnd(writer);
        return Encoding.UTF8.GetBytes(writer.ToString());
    }

    private static (IReadOnlyList<ImportRecord> Records, List<string> Errors) Parse(string format, string text) =>
        Parse(format, Encoding.UTF8.GetBytes(text));

    private static (IReadOnlyList<ImportRecord> Records, List<string> Errors) Parse(string format, byte[] bytes)
    {
        var errors = new List<string>();
        var records = HostFormats.Parse(HostFormats.Get(format), bytes, errors);
        return (records, errors);
    }

    [Theory]
    [InlineData("hosts", "10.0.0.1 web\n")]
    [InlineData("json", "[{\"ip_address\": \"10.0.0.1\", \"hostname\": \"web\"}]")]
    [InlineData("csv", "ip_address,hostname\n10.0.0.1,web\n")]
    public void A_utf8_byte_order_mark_is_dropped_in_every_format(string format, string text)
    {
        var (records, errors) = Parse(format, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(text)]);
        Assert.Empty(errors);
        Assert.Equal(["10.0.0.1|web|(null)|[]|[]"], records.Select(Content));
    }

    [Fact]
    public void A_utf16_file_is_named_as_such()
    {
        var e = Assert.Throws<CoreException>(() => Parse("hosts", Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("10.0.0.1 web\n")).ToArray()));
        Assert.Contains("UTF-16", e.Message);
    }

    [Fact]
    public void An_invisible_character_shows_in_the_error()
    {
        var (_, errors) = Parse("hosts", "10.0.0.1 web\n\uFEFF10.0.0.2 db\n");
        Assert.Contains(errors, e => e.StartsWith("line 2: invalid ip_address '\\ufeff10.0.0.2'", StringComparison.Ordinal));
    }

    private static string Content(ImportRecord r) =>
        $"{r.Draft.IpAddress}|{r.Draft.Hostname}|{r.Draft.Comment ?? "(null)"}|[{string.Join(",", r.Draft.Tags ?? [])}]|[{string.Join(",", r.Draft.Aliases ?? [])}]";

    [Theory]
    [MemberData(nameof(FormatNames))]
    public void What_the_writer_writes_parses_back_to_the_same_entries(string name)
    {
        var format = HostFormats.Get(name);
        var (records, errors) = Parse(name, Write(format, Tricky));
        Assert.Empty(errors);
        Assert.Equal(Tricky.Select(Hosts.Content), records.Select(Content));
        if (name == "hosts") Assert.All(records, r => Assert.Null(r.Id));
        else Assert.Equal(Tricky.Select(e => e.Id), records.Select(r => r.Id));
    }

    [Theory]
    [MemberData(nameof(FormatNames))]
    public void An_empty_export_parses_to_nothing(string name)
    {
        var (records, errors) = Parse(name, Write(HostFormats.Get(name), []));
        Assert.Empty(errors);
        Assert.Empty(records);
    }

    [Fact]
    public void Format_names_are_case_insensitive_default_to_hosts_and_unknown_ones_are_refused()
    {
        Assert.Equal("hosts", HostFormats.Get(null).Name);
        Assert.Equal("hosts", HostFormats.Get("").Name);
        Assert.Equal("json", HostFormats.Get("JSON").Name);
        var e = Assert.Throws<CoreException>(() => HostFormats.Get("xml"));
        Assert.Equal(CoreErrorKind.InvalidArgument, e.Kind);
        Assert.Contains("'xml'", e.Message);
    }

    // ---------------------------------------------------------------- hosts

    [Fact]
    public void Hosts_parsing_reads_real_world_files()
    {
        var (records, errors) = Parse("hosts",
            "# a comment line\r\n" +
            "\r\n" +
            "127.0.0.1   localhost localhost.localdomain\r\n" +
            "  ::1\tip6-localhost ip6-loopback   # trailing comment\n" +
            "10.0.0.1 web #[a,b] tagged\n" +
            "   \t  \n" +
            "10.0.0.2 db");
        Assert.Empty(errors);
        Assert.Equal(
        [
            "127.0.0.1|localhost|(null)|[]|[localhost.localdomain]",
            "::1|ip6-localhost|trailing comment|[]|[ip6-loopback]",
            "10.0.0.1|web|tagged|[a,b]|[]",
            "10.0.0.2|db|(null)|[]|[]",
        ], records.Select(Content));
        Assert.Equal([3, 4, 5, 7], records.Select(r => r.Line));
    }

    [Fact]
    public void Hosts_parsing_reads_router_hosts_layout_and_the_older_routerhosts_layout()
    {
        var (records, errors) = Parse("hosts",
            "192.168.1.10\tnas.lan files.lan\t# the nas [homelab, storage]\n" +
            "192.168.1.11\tiot.lan\t# [iot, homelab]\n" +
            "192.168.1.12\tdb.lan\t# Database\n" +
            "192.168.1.13\told.lan\t# [homelab,storage] the nas\n" +
            "192.168.1.14\tdocs.lan\t# see [docs] []\n" +
            "192.168.1.15\tlegacy.lan\t# [] [wip] server\n");
        Assert.Empty(errors);
        Assert.Equal(
        [
            "192.168.1.10|nas.lan|the nas|[homelab,storage]|[files.lan]",
            "192.168.1.11|iot.lan|(null)|[iot,homelab]|[]",
            "192.168.1.12|db.lan|Database|[]|[]",
            "192.168.1.13|old.lan|the nas|[homelab,storage]|[]",
            "192.168.1.14|docs.lan|see [docs]|[]|[]",
            "192.168.1.15|legacy.lan|[wip] server|[]|[]",
        ], records.Select(Content));
    }

    [Fact]
    public void Hosts_errors_carry_line_numbers_and_all_are_collected()
    {
        var (records, errors) = Parse("hosts",
            "10.0.0.1 ok\n" +
            "10.0.0.2\n" +
            "# fine\n" +
            "10.1 short\n" +
            "10.0.0.3 bad_name\n" +
            "10.0.0.4 good alias_bad\n");
        Assert.Single(records);
        Assert.Equal(4, errors.Count);
        Assert.StartsWith("line 2: '10.0.0.2' has no hostname", errors[0]);
        Assert.StartsWith("line 4: invalid ip_address '10.1'", errors[1]);
        Assert.StartsWith("line 5: invalid hostname 'bad_name'", errors[2]);
        Assert.StartsWith("line 6: invalid alias 'alias_bad'", errors[3]);
    }

    // ---------------------------------------------------------------- json

    [Fact]
    public void Json_accepts_missing_optional_fields_null_and_a_list_as_text()
    {
        var (records, errors) = Parse("json", """
            [
              {"ip_address": "10.0.0.1", "hostname": "a"},
              {"ip_address": "10.0.0.2", "hostname": "b", "comment": null, "tags": null, "aliases": "x;y", "id": "01X"},
              // comments are skipped
              {"ip_address": "2001:DB8::1", "hostname": "c", "tags": ["t"], "extra": 5}
            ]
            """);
        Assert.Empty(errors);
        Assert.Equal(["10.0.0.1|a|(null)|[]|[]", "10.0.0.2|b|(null)|[]|[x,y]", "2001:DB8::1|c|(null)|[t]|[]"], records.Select(Content));
        Assert.Equal([null, "01X", null], records.Select(r => r.Id));
    }

    [Fact]
    public void Json_errors_carry_the_line_of_the_object()
    {
        var (records, errors) = Parse("json",
            "[\n" +
            "  {\"ip_address\": \"10.0.0.1\", \"hostname\": \"ok\"},\n" +
            "  {\"ip_address\": \"10.1\", \"hostname\": \"bad\"},\n" +
            "  42,\n" +
            "  {\"ip_address\": 5, \"hostname\": \"x\"},\n" +
            "  {\"ip_address\": \"10.0.0.5\",\n" +
            "   \"hostname\": \"y\", \"tags\": [1]}\n" +
            "]\n");
        Assert.Single(records);
        Assert.Equal(4, errors.Count);
        Assert.StartsWith("line 3: invalid ip_address '10.1'", errors[0]);
        Assert.StartsWith("line 4: expected an object", errors[1]);
        Assert.Equal("line 5: 'ip_address' must be a string", errors[2]);
        Assert.Equal("line 6: 'tags' must be an array of strings", errors[3]);
    }

    [Theory]
    [InlineData("[\n{\"ip_address\": \"10.0.0.1\",\n \"hostname\": }\n]", 3)]
    [InlineData("[\n{\"ip_address\": \"10.0.0.1\", \"hostname\": \"a\"}", 2)]
    [InlineData("", 1)]
    [InlineData("[\n{\"ip_address\": \"10.0.0.1\" \"hostname\": \"a\"}]", 2)]
    public void Malformed_json_is_an_error_with_a_line(string text, int line)
    {
        var (_, errors) = Parse("json", text);
        var error = Assert.Single(errors);
        Assert.StartsWith($"line {line}: malformed JSON", error);
    }

    [Fact]
    public void Json_that_is_not_an_array_is_refused()
    {
        var (records, errors) = Parse("json", "{\"ip_address\": \"10.0.0.1\", \"hostname\": \"a\"}");
        Assert.Empty(records);
        Assert.Equal(["line 1: a JSON import is an array of host objects"], errors);
    }

    // ---------------------------------------------------------------- csv

    [Fact]
    public void Csv_writes_the_documented_header_and_rfc4180_quoting()
    {
        var text = Encoding.UTF8.GetString(Write(new CsvHostFormat(), [Tricky[0], Tricky[4]]));
        Assert.Equal(
            "id,ip_address,hostname,comment,tags,aliases\n" +
            "01A,10.0.0.1,web,front door,prod;web,www;w\n" +
            "01E,10.0.0.5,quotes,\"says \"\"hi\"\", then, commas; and #hash\",a=b;k8s:node,\n",
            text);
    }

    [Fact]
    public void Csv_header_aliases_any_column_order_and_missing_optional_columns()
    {
        var (records, errors) = Parse("csv", "\uFEFFName,IP,tags\r\nweb,10.0.0.1,a;b\r\ndb,10.0.0.2,\r\n\r\n");
        Assert.Empty(errors);
        Assert.Equal(["10.0.0.1|web|(null)|[a,b]|[]", "10.0.0.2|db|(null)|[]|[]"], records.Select(Content));
        Assert.Equal([2, 3], records.Select(r => r.Line));

        (records, errors) = Parse("csv", "address,host\n10.0.0.3,c\n");
        Assert.Empty(errors);
        Assert.Equal(["10.0.0.3|c|(null)|[]|[]"], records.Select(Content));
    }

    [Fact]
    public void Csv_unknown_or_missing_columns_are_errors()
    {
        var (records, errors) = Parse("csv", "ip,hostname,colour\n10.0.0.1,a,red\n");
        Assert.Contains(errors, e => e.StartsWith("line 1: unknown column 'colour'", StringComparison.Ordinal));
        (records, errors) = Parse("csv", "ip,comment\n10.0.0.1,x\n");
        Assert.Empty(records);
        Assert.Equal(["line 1: the header has no hostname column"], errors);
    }

    [Fact]
    public void Csv_errors_carry_line_numbers_even_after_multiline_fields()
    {
        var (records, errors) = Parse("csv",
            "ip_address,hostname,comment\n" +
            "10.0.0.1,a,\"two\nlines\"\n" +      // lines 2-3: a comment with a line break is invalid
            "10.0.0.2,b\n" +                     // line 4: too few fields
            "10.1,c,x\n" +                       // line 5: bad ip
            "10.0.0.4,d,\"fine, \"\"quoted\"\"\"\n" + // line 6: ok
            "10.0.0.5,e,\"never closed\n");      // line 7
        Assert.Equal(["10.0.0.4|d|fine, \"quoted\"|[]|[]"], records.Select(Content));
        Assert.Equal(6, records[0].Line);
        Assert.Contains(errors, e => e.StartsWith("line 2: invalid comment", StringComparison.Ordinal));
        Assert.Contains("line 4: 2 fields where the header has 3", errors);
        Assert.Contains(errors, e => e.StartsWith("line 5: invalid ip_address '10.1'", StringComparison.Ordinal));
        Assert.Contains("line 7: a quoted field is not closed", errors);
    }

    [Fact]
    public void Invalid_utf8_is_refused_by_text_formats()
    {
        var bytes = new byte[] { (byte)'1', (byte)'0', 0xff, (byte)'\n' };
        Assert.Throws<DecoderFallbackException>(() => HostFormats.Get("hosts").Parse(bytes, []));
        Assert.Throws<DecoderFallbackException>(() => HostFormats.Get("csv").Parse(bytes, []));
    }
}
