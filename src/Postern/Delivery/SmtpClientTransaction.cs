using System.Buffers;
using System.Net.Sockets;
using System.Text;
using Postern.Smtp;

namespace Postern.Delivery;

// The mail transaction half of the client: pipelined envelope commands, DATA with dot-stuffing,
// BDAT with the bytes as they are. Timeouts follow RFC 5321 4.5.3.2.
public sealed partial class SmtpClientConnection
{
    private static readonly TimeSpan DataBlockTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan DataTerminationTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Sends the commands in one write (RFC 2920 PIPELINING; the caller checks the server offers it)
    /// and reads one reply per command, in order.
    /// </summary>
    public async Task<IReadOnlyList<SmtpReply>> SendPipelinedAsync(IReadOnlyList<string> commands, CancellationToken cancellationToken = default)
    {
        Expect(SmtpClientState.Ready);
        var text = new StringBuilder();
        foreach (string command in commands)
        {
            if (command.AsSpan().IndexOfAny('\r', '\n') >= 0) throw new ArgumentException("A command line cannot contain CR or LF.", nameof(commands));
            text.Append(command).Append("\r\n");
        }
        await WriteRawAsync(Encoding.UTF8.GetBytes(text.ToString()), SmtpClientStage.Command, "the envelope", cancellationToken).ConfigureAwait(false);
        var replies = new List<SmtpReply>(commands.Count);
        foreach (string _ in commands)
            replies.Add(await ReadReplyAsync(SmtpClientStage.Command, _limits.CommandTimeout, cancellationToken).ConfigureAwait(false));
        return replies;
    }

    /// <summary>
    /// After a 354, sends the message dot-stuffed (RFC 5321 4.5.2) with the terminating
    /// &lt;CRLF&gt;.&lt;CRLF&gt;, and reads the final reply.
    /// </summary>
    public async Task<SmtpReply> SendDataContentAsync(Stream content, CancellationToken cancellationToken = default)
    {
        Expect(SmtpClientState.Ready);
        var stuffer = new DotStuffer();
        var output = new ArrayBufferWriter<byte>(80 * 1024);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                int read = await content.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
                if (read == 0) break;
                stuffer.Write(chunk.AsSpan(0, read), output);
                if (output.WrittenCount >= 64 * 1024)
                {
                    await WriteBlockAsync(output.WrittenMemory, cancellationToken).ConfigureAwait(false);
                    output.ResetWrittenCount();
                }
            }
            stuffer.Complete(output);
            await WriteBlockAsync(output.WrittenMemory, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return await ReadReplyAsync(SmtpClientStage.Command, DataTerminationTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the message as one BDAT ... LAST chunk (RFC 3030), byte for byte, and reads the reply.
    /// </summary>
    public async Task<SmtpReply> SendChunkedContentAsync(Stream content, long length, CancellationToken cancellationToken = default)
    {
        Expect(SmtpClientState.Ready);
        await WriteRawAsync(Encoding.ASCII.GetBytes($"BDAT {length} LAST\r\n"), SmtpClientStage.Command, "BDAT", cancellationToken, flush: false).ConfigureAwait(false);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long remaining = length;
            while (remaining > 0)
            {
                int read = await content.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, remaining)), cancellationToken).ConfigureAwait(false);
                if (read == 0) throw new IOException("the stored message is shorter than its recorded length");
                await WriteBlockAsync(chunk.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                remaining -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return await ReadReplyAsync(SmtpClientStage.Command, DataTerminationTimeout, cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteBlockAsync(ReadOnlyMemory<byte> block, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(DataBlockTimeout);
        try
        {
            await WriteRawAsync(block, SmtpClientStage.Command, "message data", deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            MoveTo(SmtpClientState.Closed);
            throw new SmtpClientException(SmtpClientStage.Command, "timeout while sending message data") { IsTimeout = true };
        }
    }

    private async Task WriteRawAsync(ReadOnlyMemory<byte> bytes, SmtpClientStage stage, string what, CancellationToken cancellationToken, bool flush = true)
    {
        try
        {
            await _stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            if (flush) await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            MoveTo(SmtpClientState.Closed);
            throw new SmtpClientException(stage, $"connection lost while sending {what}: {e.Message}", e);
        }
    }
}
