namespace Postern.Tests.Probing;

/// <summary>Hand-made TLS records for a server whose certificate is not DER at all.</summary>
internal static class RawTls
{
    /// <summary>Reads one TLS record (the ClientHello).</summary>
    public static async Task ReadRecordAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[5];
        await stream.ReadExactlyAsync(header, cancellationToken);
        var length = (header[3] << 8) | header[4];
        await stream.ReadExactlyAsync(new byte[length], cancellationToken);
    }

    /// <summary>ServerHello (TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256, secure renegotiation) then a Certificate message holding 16 bytes that are not a certificate.</summary>
    public static byte[] ServerHelloWithGarbageCertificate()
    {
        var hello = new List<byte> { 0x03, 0x03 };
        hello.AddRange(Enumerable.Range(1, 32).Select(i => (byte)i));
        hello.Add(0x00); // session id
        hello.AddRange([0xC0, 0x2F]); // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        hello.Add(0x00); // no compression
        byte[] extensions = [0xFF, 0x01, 0x00, 0x01, 0x00]; // renegotiation_info, empty
        hello.AddRange([0x00, (byte)extensions.Length]);
        hello.AddRange(extensions);

        var garbage = Enumerable.Repeat((byte)0x5A, 16).ToArray();
        var certificates = new List<byte>();
        certificates.AddRange(Length24(garbage.Length));
        certificates.AddRange(garbage);
        var certificateBody = new List<byte>();
        certificateBody.AddRange(Length24(certificates.Count));
        certificateBody.AddRange(certificates);

        var handshakes = new List<byte>();
        handshakes.AddRange(Handshake(0x02, hello));
        handshakes.AddRange(Handshake(0x0B, certificateBody));
        var record = new List<byte> { 0x16, 0x03, 0x03, (byte)(handshakes.Count >> 8), (byte)handshakes.Count };
        record.AddRange(handshakes);
        return [.. record];
    }

    private static IEnumerable<byte> Handshake(byte type, List<byte> body) => [type, .. Length24(body.Count), .. body];

    private static byte[] Length24(int length) => [(byte)(length >> 16), (byte)(length >> 8), (byte)length];
}
