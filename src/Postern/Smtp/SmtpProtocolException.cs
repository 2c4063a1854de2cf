namespace Postern.Smtp;

/// <summary>The peer broke the protocol in a way that ends the conversation.</summary>
public sealed class SmtpProtocolException(string message) : Exception(message);
