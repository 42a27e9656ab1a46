using System.Security.Cryptography;

namespace RouterHosts.Core.Hosts;

/// <summary>ULIDs (48-bit millisecond time + 80 random bits, Crockford base32): the ids of hosts and snapshots.</summary>
public static class Ulid
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

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
