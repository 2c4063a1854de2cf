using System.Text;

namespace Postern.Bench;

/// <summary>The bytes a client sends, built once and shared read-only by every connection.</summary>
internal sealed class BenchMessage
{
    private const string Words =
        "the gateway accepts mail for its organizations and stores every message durably before it answers " +
        "partners expect transport security and a certificate that names the host they connect to while " +
        "queues retry deliveries with backoff until the lifetime ends and a report explains what failed ";

    private BenchMessage(byte[] envelope, byte[] content)
    {
        Envelope = envelope;
        Content = content;
    }

    /// <summary>MAIL, RCPT and DATA, pipelined in one write (RFC 2920).</summary>
    public byte[] Envelope { get; }

    /// <summary>Message, ending with CRLF, then the end-of-data line ".\r\n".</summary>
    public byte[] Content { get; }

    /// <summary>Size of the message itself, without the end-of-data line.</summary>
    public int MessageSize => Content.Length - 3;

    public static BenchMessage Build(int size, string sender, string recipient)
    {
        var text = new StringBuilder(size + 256);
        string date = DateTimeOffset.UtcNow.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", System.Globalization.CultureInfo.InvariantCulture);
        text.Append("Received: from workstation.client.test (workstation.client.test [192.0.2.25])\r\n");
        text.Append("\tby mail.client.test with ESMTPSA id 4bQx7T0Zk9z9sWP\r\n");
        text.Append("\tfor <").Append(recipient).Append(">; ").Append(date).Append("\r\n");
        text.Append("From: Bench Sender <").Append(sender).Append(">\r\n");
        text.Append("To: Bench Recipient <").Append(recipient).Append(">\r\n");
        text.Append("Subject: Quarterly figures for the acceptance benchmark\r\n");
        text.Append("Date: ").Append(date).Append("\r\n");
        text.Append("Message-ID: <20250101000000.bench.0001@client.test>\r\n");
        text.Append("MIME-Version: 1.0\r\n");
        text.Append("Content-Type: text/plain; charset=utf-8\r\n");
        text.Append("Content-Transfer-Encoding: 7bit\r\n");
        text.Append("\r\n");

        // Body: lines of up to 76 characters, never starting with '.', until the size is reached.
        int offset = 0;
        while (text.Length < size)
        {
            int room = size - text.Length - 2;
            int length = Math.Min(76, Math.Max(room, 0));
            if (length == 0)
            {
                text.Append("\r\n");
                break;
            }
            string line = Words.Substring(offset % (Words.Length - 80), length).TrimStart('.', ' ');
            if (line.Length < length)
            {
                line = line.PadRight(length, 'x');
            }
            text.Append(line).Append("\r\n");
            offset += 37;
        }

        byte[] envelope = Encoding.ASCII.GetBytes(
            $"MAIL FROM:<{sender}> SIZE={text.Length}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n");
        byte[] content = Encoding.ASCII.GetBytes(text.Append(".\r\n").ToString());
        return new BenchMessage(envelope, content);
    }
}
