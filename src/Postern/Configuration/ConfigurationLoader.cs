// placeholder replaced by the config branch
namespace Postern.Configuration;
public sealed record ConfigurationError(string Path, string Message, bool IsWarning = false);
public sealed record ConfigurationResult(PosternConfiguration? Configuration, IReadOnlyList<ConfigurationError> Errors, IReadOnlyList<ConfigurationError> Warnings)
{
    public bool IsValid => Configuration is not null && Errors.Count == 0;
}
public static class ConfigurationLoader
{
    public static ConfigurationResult Load(string path) => throw new NotImplementedException();
}
