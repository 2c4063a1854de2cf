using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;

namespace Postern.Configuration;

/// <summary>
/// Binds a JSON document to the configuration records by their public init properties: keys match
/// property names case-insensitively, and every unknown key, duplicate key, wrong type and unknown
/// enum value becomes an error at its JSON path. Binding goes on past an error, so one pass reports
/// all of them; a value in error leaves the record's default in place.
/// </summary>
internal sealed class ConfigurationBinder
{
    private static readonly ConcurrentDictionary<Type, RecordShape> Shapes = new();
    private static readonly Lock ShapeLock = new();

    private readonly List<ConfigurationError> _errors;

    private ConfigurationBinder(List<ConfigurationError> errors) => _errors = errors;

    /// <summary>Binds <paramref name="root"/> to a <see cref="PosternConfiguration"/>, adding each problem to <paramref name="errors"/>.</summary>
    public static PosternConfiguration Bind(JsonElement root, List<ConfigurationError> errors)
    {
        var binder = new ConfigurationBinder(errors);
        return binder.BindRecord(root, typeof(PosternConfiguration), "$") as PosternConfiguration ?? new PosternConfiguration();
    }

    /// <summary>The camelCase spelling of a property name, as the contract writes keys.</summary>
    public static string JsonName(string propertyName) =>
        propertyName.Length == 0 ? propertyName : char.ToLowerInvariant(propertyName[0]) + propertyName[1..];

    private object? BindRecord(JsonElement element, Type type, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            Error(path, "expected an object");
            return null;
        }
        var shape = Shapes.GetOrAdd(type, CreateShape);
        var instance = Activator.CreateInstance(type)!;
        var given = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var member in element.EnumerateObject())
        {
            if (!shape.Properties.TryGetValue(member.Name, out var property))
            {
                Error(AppendKey(path, member.Name), $"unknown key; expected one of {shape.KeyList}");
                continue;
            }
            var propertyPath = AppendKey(path, property.JsonName);
            if (!given.TryAdd(property.JsonName, member.Name))
            {
                Error(propertyPath, $"duplicate key (\"{given[property.JsonName]}\" and \"{member.Name}\")");
                continue;
            }
            if (TryBindValue(member.Value, property.Type, property.IsNullable, propertyPath, out var value))
            {
                property.Info.SetValue(instance, value);
            }
        }
        return instance;
    }

    private bool TryBindValue(JsonElement element, Type type, bool isNullable, string path, out object? value)
    {
        value = null;
        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying is not null)
        {
            type = underlying;
            isNullable = true;
        }
        if (element.ValueKind == JsonValueKind.Null)
        {
            if (isNullable)
            {
                return true;
            }
            Error(path, Expected(type));
            return false;
        }

        if (type == typeof(string))
        {
            if (element.ValueKind != JsonValueKind.String)
            {
                return Error(path, Expected(type));
            }
            value = element.GetString();
            return true;
        }
        if (type == typeof(bool))
        {
            if (element.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                return Error(path, Expected(type));
            }
            value = element.GetBoolean();
            return true;
        }
        if (type == typeof(int) || type == typeof(long))
        {
            return TryBindInteger(element, type, path, out value);
        }
        if (type.IsEnum)
        {
            if (element.ValueKind == JsonValueKind.String)
            {
                var text = element.GetString();
                // Enum.TryParse also accepts digits and comma lists; only a declared name is a value here.
                var name = Enum.GetNames(type).FirstOrDefault(n => string.Equals(n, text, StringComparison.OrdinalIgnoreCase));
                if (name is not null)
                {
                    value = Enum.Parse(type, name);
                    return true;
                }
            }
            return Error(path, Expected(type));
        }
        if (ListElementType(type) is { } elementType)
        {
            if (element.ValueKind != JsonValueKind.Array)
            {
                return Error(path, Expected(type));
            }
            var items = new List<object?>();
            var index = 0;
            foreach (var item in element.EnumerateArray())
            {
                if (TryBindValue(item, elementType, isNullable: false, $"{path}[{index}]", out var itemValue))
                {
                    items.Add(itemValue);
                }
                index++;
            }
            var array = Array.CreateInstance(elementType, items.Count);
            for (var i = 0; i < items.Count; i++)
            {
                array.SetValue(items[i], i);
            }
            value = array;
            return true;
        }
        if (type.IsClass)
        {
            value = BindRecord(element, type, path);
            return value is not null;
        }
        throw new NotSupportedException($"The configuration binder has no rule for {type}.");
    }

    private bool TryBindInteger(JsonElement element, Type type, string path, out object? value)
    {
        value = null;
        if (element.ValueKind != JsonValueKind.Number)
        {
            return Error(path, Expected(type));
        }
        if (type == typeof(int) && element.TryGetInt32(out var i))
        {
            value = i;
            return true;
        }
        if (type == typeof(long) && element.TryGetInt64(out var l))
        {
            value = l;
            return true;
        }
        var d = element.GetDouble();
        if (Math.Floor(d) != d)
        {
            return Error(path, "expected a whole number");
        }
        var max = type == typeof(int) ? int.MaxValue : long.MaxValue;
        return Error(path, $"number out of range (at most {max})");
    }

    private static string Expected(Type type)
    {
        if (type == typeof(string))
        {
            return "expected a string";
        }
        if (type == typeof(bool))
        {
            return "expected true or false";
        }
        if (type == typeof(int) || type == typeof(long))
        {
            return "expected a number";
        }
        if (type.IsEnum)
        {
            return $"expected one of {string.Join(", ", Enum.GetNames(type))}";
        }
        return ListElementType(type) is not null ? "expected an array" : "expected an object";
    }

    private static Type? ListElementType(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) ? type.GetGenericArguments()[0] : null;

    private bool Error(string path, string message)
    {
        _errors.Add(new ConfigurationError(path, message));
        return false;
    }

    /// <summary>Appends an object key to a JSON path: ".key" for a plain name, "['key']" otherwise.</summary>
    internal static string AppendKey(string path, string key)
    {
        var plain = key.Length > 0 && (char.IsAsciiLetter(key[0]) || key[0] == '_')
            && key.All(static c => char.IsAsciiLetterOrDigit(c) || c == '_');
        return plain ? $"{path}.{key}" : $"{path}['{key.Replace("'", "\\'", StringComparison.Ordinal)}']";
    }

    private static RecordShape CreateShape(Type type)
    {
        // NullabilityInfoContext is not thread-safe; shapes are built once per type.
        lock (ShapeLock)
        {
            var context = new NullabilityInfoContext();
            var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(static p => p.SetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0)
                .OrderBy(static p => p.MetadataToken)
                .Select(p => new BoundProperty(p, JsonName(p.Name), p.PropertyType,
                    context.Create(p).WriteState == NullabilityState.Nullable))
                .ToArray();
            return new RecordShape(
                properties.ToDictionary(static p => p.JsonName, StringComparer.OrdinalIgnoreCase),
                string.Join(", ", properties.Select(static p => p.JsonName)));
        }
    }

    private sealed record BoundProperty(PropertyInfo Info, string JsonName, Type Type, bool IsNullable);

    private sealed record RecordShape(Dictionary<string, BoundProperty> Properties, string KeyList);
}
