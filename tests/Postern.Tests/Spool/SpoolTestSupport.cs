using Postern.Spool;
using Postern.Tls;

namespace Postern.Tests.Spool;

/// <summary>A spool root in a fresh temporary directory, removed afterwards.</summary>
internal sealed class TempSpoolDirectory : IDisposable
{
    public TempSpoolDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "postern-spool-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Tmp => System.IO.Path.Combine(Path, "tmp");

    public string Queue => System.IO.Path.Combine(Path, "queue");

    public string Corrupt => System.IO.Path.Combine(Path, "corrupt");

    public string Free => System.IO.Path.Combine(Path, "free");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class SpoolSamples
{
    public static Envelope Envelope(string queueId, int recipients = 1) => new()
    {
        QueueId = queueId,
        Sender = "alice@contoso.example",
        Recipients = Enumerable.Range(0, recipients)
            .Select(i => new EnvelopeRecipient { Address = $"user{i}@fabrikam.example" })
            .ToList(),
        ClientAddress = "192.0.2.10",
        ClientPort = 40000,
        HeloName = "mail.contoso.example",
        Protocol = "ESMTPS",
        Listener = "0.0.0.0:25",
        ReceivedAt = new DateTimeOffset(2026, 11, 29, 1, 2, 3, TimeSpan.Zero),
    };

    public static Envelope FullEnvelope(string queueId) => Envelope(queueId) with
    {
        Recipients =
        [
            new EnvelopeRecipient { Address = "bob@fabrikam.example", Notify = DsnNotify.Success | DsnNotify.Failure, OriginalRecipient = "rfc822;bob@fabrikam.example" },
            new EnvelopeRecipient { Address = "josé@fabrikam.example", Notify = DsnNotify.Never },
        ],
        Body = BodyType.EightBitMime,
        SmtpUtf8 = true,
        Return = DsnReturn.Headers,
        EnvelopeId = "QQ314159",
        DeclaredSize = 123456,
        ClientName = "mail.contoso.example",
        Connector = "From Contoso",
        Organization = "Fabrikam",
        Tls = new TlsSessionFacts
        {
            Protocol = "TLSv1.3",
            CipherSuite = "TLS_AES_256_GCM_SHA384",
            CipherStrength = 256,
            ServerName = "mx.gateway.example",
            PeerCertificateSubject = "CN=mail.contoso.example",
            PeerCertificateIssuer = "CN=Contoso CA",
            PeerCertificateSha256 = "AB12",
            PeerCertificateNames = ["mail.contoso.example", "*.contoso.example"],
        },
    };

    /// <summary>Deterministic message bytes that differ per seed, including CR, LF, NUL and 8-bit bytes.</summary>
    public static byte[] Message(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static async Task<string> CommitAsync(MessageSpool spool, byte[] message, int chunk = 4096)
    {
        string id = spool.NewQueueId();
        await using SpoolWriter writer = spool.CreateWriter(Envelope(id));
        for (int offset = 0; offset < message.Length; offset += chunk)
        {
            await writer.WriteAsync(message.AsMemory(offset, Math.Min(chunk, message.Length - offset)));
        }
        await writer.CommitAsync();
        return id;
    }

    public static byte[] ReadContent(MessageSpool spool, string id)
    {
        using SpoolMessage message = spool.Open(id);
        var copy = new MemoryStream();
        message.Content.CopyTo(copy);
        Assert.Equal(message.ContentLength, copy.Length);
        return copy.ToArray();
    }
}
