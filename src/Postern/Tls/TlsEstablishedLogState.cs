using System.Collections;
using System.Globalization;
using System.Text;

namespace Postern.Tls;

/// <summary>
/// The "TLS connection established" line in Postfix's form, for both directions:
/// <c>Anonymous TLS connection established from unknown[192.0.2.9]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)</c>.
/// Postfix leaves out the bits when the cipher's strength is unknown, and Postern adds the SNI and
/// the client certificate only when there are some; a <c>[LoggerMessage]</c> template cannot leave
/// out a clause, so this state renders what is known and carries every field as a property (with
/// <c>{OriginalFormat}</c>) for structured sinks, as generated log states do.
/// </summary>
internal sealed class TlsEstablishedLogState : IReadOnlyList<KeyValuePair<string, object?>>
{
    /// <summary>Formats the state for <see cref="Microsoft.Extensions.Logging.ILogger.Log{TState}"/>.</summary>
    public static readonly Func<TlsEstablishedLogState, Exception?, string> Formatter = (state, _) => state._rendered;

    private readonly List<KeyValuePair<string, object?>> _fields = [];
    private readonly StringBuilder _text = new();
    private readonly StringBuilder _format = new();

    private string _rendered = "";

    private TlsEstablishedLogState()
    {
    }

    /// <summary>
    /// The receiving side's line: <c>{Trust} TLS connection established from {ClientName}[{ClientAddress}]: {Protocol} with cipher {Cipher} ({CipherBits}/{CipherBits} bits) sni={ServerName} client_cert="{ClientCertificate}"</c>,
    /// the last three clauses only when known.
    /// </summary>
    public static TlsEstablishedLogState Inbound(string trust, string clientName, string clientAddress, TlsSessionFacts tls, string? clientCertificate)
    {
        ArgumentNullException.ThrowIfNull(tls);
        var state = new TlsEstablishedLogState();
        state.Field("Trust", trust).Literal(" TLS connection established from ")
            .Field("ClientName", clientName).Literal("[").Field("ClientAddress", clientAddress).Literal("]: ");
        state.Session(tls);
        if (!string.IsNullOrEmpty(tls.ServerName)) state.Literal(" sni=").Field("ServerName", tls.ServerName);
        if (!string.IsNullOrEmpty(clientCertificate)) state.Literal(" client_cert=\"").Field("ClientCertificate", clientCertificate, Quoted(clientCertificate)).Literal("\"");
        return state.Seal();
    }

    /// <summary>
    /// The delivering side's line, with the queue id first as on Postfix's smtp lines:
    /// <c>{QueueId}: {Trust} TLS connection established to {Relay}: {Protocol} with cipher {Cipher} ({CipherBits}/{CipherBits} bits)</c>.
    /// </summary>
    public static TlsEstablishedLogState Outbound(string queueId, string trust, string relay, TlsSessionFacts tls)
    {
        ArgumentNullException.ThrowIfNull(tls);
        var state = new TlsEstablishedLogState();
        state.Field("QueueId", queueId).Literal(": ").Field("Trust", trust).Literal(" TLS connection established to ")
            .Field("Relay", relay).Literal(": ");
        state.Session(tls);
        return state.Seal();
    }

    /// <summary>Symmetric key bits: the facts' own, else read from the suite name (AES_128, AES_256, CHACHA20, ...).</summary>
    public static int? CipherBits(TlsSessionFacts tls)
    {
        ArgumentNullException.ThrowIfNull(tls);
        return tls.CipherStrength ?? TlsFacts.CipherStrength(tls.CipherSuite);
    }

    public int Count => _fields.Count;

    public KeyValuePair<string, object?> this[int index] => _fields[index];

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _fields.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => _rendered;

    private void Session(TlsSessionFacts tls)
    {
        Field("Protocol", tls.Protocol).Literal(" with cipher ").Field("Cipher", tls.CipherSuite);
        if (CipherBits(tls) is { } bits)
        {
            Literal(" (").Field("CipherBits", bits).Literal("/").Field("CipherBits", bits).Literal(" bits)");
        }
    }

    private TlsEstablishedLogState Literal(string text)
    {
        _text.Append(text);
        _format.Append(text.Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal));
        return this;
    }

    private TlsEstablishedLogState Field(string name, object value, string? shown = null)
    {
        _text.Append(shown ?? Convert.ToString(value, CultureInfo.InvariantCulture));
        _format.Append('{').Append(name).Append('}');
        if (!_fields.Exists(f => f.Key == name)) _fields.Add(new KeyValuePair<string, object?>(name, value));
        return this;
    }

    private TlsEstablishedLogState Seal()
    {
        _rendered = _text.ToString();
        _fields.Add(new KeyValuePair<string, object?>("{OriginalFormat}", _format.ToString()));
        return this;
    }

    private static string Quoted(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}
