using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Postern.Sink;

// The relay benchmark's measuring device: an SMTP server with STARTTLS that accepts every message
// and keeps nothing, the TLS counterpart of Postfix's smtp-sink. It writes the number of messages
// accepted so far to a file, so a script can wait for a count without reading a log.
if (args.Length is not (8 or 10) || args[0] != "--listen" || args[2] != "--cert" || args[4] != "--key" || args[6] != "--count-file"
    || (args.Length == 10 && args[8] != "--hostname") || !IPEndPoint.TryParse(args[1], out IPEndPoint? listen))
{
    Console.Error.WriteLine("usage: Postern.Sink --listen ADDRESS:PORT --cert FULLCHAIN.pem --key KEY.pem --count-file PATH [--hostname NAME]");
    return 2;
}

using X509Certificate2 certificate = LoadCertificate(args[3], args[5]);
var sink = new SinkServer(listen, certificate, args[7], args.Length == 10 ? args[9] : "sink.bench.test");
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
await sink.RunAsync(stop.Token);
return 0;

static X509Certificate2 LoadCertificate(string certificateFile, string keyFile)
{
    var chain = new X509Certificate2Collection();
    chain.ImportFromPemFile(certificateFile);
    using X509Certificate2 leaf = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
    // An ephemeral key in a PKCS#12 round trip, as SslStream on Linux wants a key it can use repeatedly.
    return X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
}

namespace Postern.Sink
{
    internal sealed class SinkServer(IPEndPoint listen, X509Certificate2 certificate, string countFile, string hostName)
    {
        private long _count;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            using var listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(listen);
            listener.Listen(512);
            var context = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
            var options = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = context,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            };
            _ = ReportAsync(cancellationToken);
            Console.WriteLine($"listening on {listen}");
            while (!cancellationToken.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                client.NoDelay = true;
                _ = Task.Run(() => ServeAsync(client, options, cancellationToken), cancellationToken);
            }
            WriteCount();
        }

        private async Task ReportAsync(CancellationToken cancellationToken)
        {
            long written = -1;
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            try
            {
                while (await timer.WaitForNextTickAsync(cancellationToken))
                {
                    long count = Interlocked.Read(ref _count);
                    if (count == written) continue;
                    WriteCount();
                    written = count;
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        private void WriteCount()
        {
            string temporary = countFile + ".tmp";
            File.WriteAllText(temporary, Interlocked.Read(ref _count).ToString(CultureInfo.InvariantCulture) + "\n");
            File.Move(temporary, countFile, overwrite: true);
        }

        private async Task ServeAsync(Socket socket, SslServerAuthenticationOptions options, CancellationToken cancellationToken)
        {
            try
            {
                await using var session = new SinkSession(socket, hostName);
                await session.RunAsync(options, () => Interlocked.Increment(ref _count), cancellationToken);
            }
            catch (Exception e) when (e is IOException or SocketException or AuthenticationException or OperationCanceledException or InvalidDataException)
            {
                // A client that goes away is no news for a sink.
            }
        }
    }
}
