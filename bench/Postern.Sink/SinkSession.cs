using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Postern.Sink;

/// <summary>
/// One connection: replies to commands as they come (pipelining), buffers replies until the input
/// is drained, and discards DATA and BDAT content. Accepts any envelope.
/// </summary>
internal sealed class SinkSession(Socket socket, string hostName) : IAsyncDisposable
{
    private const int MaxLine = 4096;
    private static readonly byte[] EndOfData = "\r\n.\r\n"u8.ToArray();
    private readonly byte[] _input = new byte[64 * 1024];
    private readonly MemoryStream _output = new();
    private Stream _stream = new NetworkStream(socket, ownsSocket: true);
    private int _start;
    private int _end;
    private bool _tls;

    public async Task RunAsync(SslServerAuthenticationOptions tlsOptions, Action counted, CancellationToken cancellationToken)
    {
        Reply($"220 {hostName} ESMTP sink");
        await FlushAsync(cancellationToken);
        while (true)
        {
            string? line = await ReadLineAsync(cancellationToken);
            if (line is null) return;
            string verb = (line.Length >= 4 ? line[..4] : line).ToUpperInvariant();
            switch (verb)
            {
                case "EHLO":
                    Reply($"250-{hostName}");
                    if (!_tls) Reply("250-STARTTLS");
                    Reply("250-PIPELINING");
                    Reply("250-SIZE 52428800");
                    Reply("250-8BITMIME");
                    Reply("250-ENHANCEDSTATUSCODES");
                    Reply("250-CHUNKING");
                    Reply("250 SMTPUTF8");
                    break;
                case "HELO":
                    Reply($"250 {hostName}");
                    break;
                case "STAR" when !_tls:
                    Reply("220 2.0.0 Ready to start TLS");
                    await FlushAsync(cancellationToken);
                    if (_start != _end) throw new InvalidDataException("data after STARTTLS");
                    var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
                    await ssl.AuthenticateAsServerAsync(tlsOptions, cancellationToken);
                    _stream = ssl;
                    _tls = true;
                    continue;
                case "MAIL":
                case "RCPT":
                    Reply("250 2.1.0 Ok");
                    break;
                case "DATA":
                    Reply("354 End data with <CR><LF>.<CR><LF>");
                    await FlushAsync(cancellationToken);
                    if (!await SkipDataAsync(cancellationToken)) return;
                    counted();
                    Reply("250 2.0.0 Ok: discarded");
                    break;
                case "BDAT":
                    string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (parts.Length < 2 || !long.TryParse(parts[1], out long size) || size < 0)
                    {
                        Reply("501 5.5.4 Syntax: BDAT size [LAST]");
                        break;
                    }
                    if (!await SkipAsync(size, cancellationToken)) return;
                    bool last = parts.Length > 2 && parts[2].Equals("LAST", StringComparison.OrdinalIgnoreCase);
                    if (last) counted();
                    Reply(last ? "250 2.0.0 Ok: discarded" : $"250 2.0.0 {size} octets received");
                    break;
                case "RSET":
                case "NOOP":
                    Reply("250 2.0.0 Ok");
                    break;
                case "QUIT":
                    Reply("221 2.0.0 Bye");
                    await FlushAsync(cancellationToken);
                    return;
                default:
                    Reply("502 5.5.2 Error: command not recognized");
                    break;
            }
            // Pipelining: answer a group of commands in one write, once the input is drained.
            if (_start == _end) await FlushAsync(cancellationToken);
        }
    }

    private void Reply(string line)
    {
        _output.Write(Encoding.ASCII.GetBytes(line));
        _output.Write("\r\n"u8);
    }

    private async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_output.Length == 0) return;
        await _stream.WriteAsync(_output.GetBuffer().AsMemory(0, (int)_output.Length), cancellationToken);
        await _stream.FlushAsync(cancellationToken);
        _output.SetLength(0);
    }

    private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start == _end) _start = _end = 0;
        else if (_end == _input.Length)
        {
            Buffer.BlockCopy(_input, _start, _input, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        int read = await _stream.ReadAsync(_input.AsMemory(_end), cancellationToken);
        _end += read;
        return read > 0;
    }

    private async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int newline = Array.IndexOf(_input, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                int length = newline - _start;
                if (length > 0 && _input[newline - 1] == '\r') length--;
                string line = Encoding.ASCII.GetString(_input, _start, length);
                _start = newline + 1;
                return line;
            }
            if (_end - _start > MaxLine) throw new InvalidDataException("line too long");
            if (!await FillAsync(cancellationToken)) return null;
        }
    }

    /// <summary>Skips DATA content up to and including the line ".".</summary>
    private async ValueTask<bool> SkipDataAsync(CancellationToken cancellationToken)
    {
        // The content starts as if after a CRLF, so an empty message is the line "." alone.
        if (!await EnsureAsync(3, cancellationToken)) return false;
        if (_input.AsSpan(_start, 3).SequenceEqual(EndOfData.AsSpan(2)))
        {
            _start += 3;
            return true;
        }
        while (true)
        {
            int found = _input.AsSpan(_start, _end - _start).IndexOf(EndOfData);
            if (found >= 0)
            {
                _start += found + EndOfData.Length;
                return true;
            }
            // Keep the last bytes: the end marker may straddle two reads.
            _start = Math.Max(_start, _end - (EndOfData.Length - 1));
            if (!await FillAsync(cancellationToken)) return false;
        }
    }

    private async ValueTask<bool> EnsureAsync(int count, CancellationToken cancellationToken)
    {
        while (_end - _start < count)
        {
            if (!await FillAsync(cancellationToken)) return false;
        }
        return true;
    }

    private async ValueTask<bool> SkipAsync(long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (_start == _end && !await FillAsync(cancellationToken)) return false;
            int take = (int)Math.Min(count, _end - _start);
            _start += take;
            count -= take;
        }
        return true;
    }

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();
}
