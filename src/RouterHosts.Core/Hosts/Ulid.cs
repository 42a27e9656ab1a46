using System.Security.Cryptography;

namespace RouterHosts.Core.Hosts;

/// <summary>ULIDs (48-bit millisecond time + 80 random bits, Crockford base32): the ids of hosts and snapshots.</summary>
public static class Ulid
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    /// <summary>26 Crockford base32 digits (any case), the first at most '7' so the value fits 128 bits.</summary>
    public static bool IsValid(string? text) =>
        text is { Length: 26 } && text[0] is >= '0' and <= '7' && text.All(c => Alphabet.Contains(char.ToUpperInvariant(c)));

    /// <summary>The id itself, or INVALID_ARGUMENT naming it when it is not a ULID (the ids of hosts and snapshots).</summary>
    public static string Require(string field, string? text)
    {
        if (string.IsNullOrEmpty(text)) throw CoreException.Invalid(field, text, "an id is required");
        if (!IsValid(text)) throw CoreException.Invalid(field, text, "not a ULID (26 characters of Crockford base32)");
        return text;
    }

    public static string New(DateTimeOffset now)
    {
        Span<byte> bytes = stackalloc byte[16];
        var ms = (ulong)now.ToUnixTimeMilliseconds();
        for (var i = 5; i >= 0; i--) { bytes[i] = (byte)ms; ms >>= 8; }
        RandomNumberGenerator.Fill(bytes[6..]);
        Span<char> text = stackalloc char[26];
        // 128 bits as 26 base32 digits, most significant first (the top digit holds 3 bits).
        var high = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes);
        var low = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        var value = new UInt128(high, low);
        for (var i = 25; i >= 0; i--)
        {
            text[i] = Alphabet[(int)(value & 31)];
            value >>= 5;
        }
        return new string(text);
    }
}
