// A small JSON reader: enough to read an edgeattn bundle's manifest.json (RFC 8259 values, UTF-8).
#pragma once

#include <string>
#include <vector>

namespace edgeattn {

class Json {
public:
    enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

    Type type() const { return mType; }
    bool isNumber() const { return mType == Type::kNumber; }
    bool isString() const { return mType == Type::kString; }
    bool isArray() const { return mType == Type::kArray; }
    bool isObject() const { return mType == Type::kObject; }

    double number() const { return mNumber; }
    bool boolean() const { return mBool; }
    std::string const& string() const { return mString; }
    //! Elements of an array (for an object: the member values, in document order).
    std::vector<Json> const& array() const { return mArray; }

    //! The member `key` of an object, or nullptr when absent (or when this is not an object).
    Json const* find(std::string const& key) const;

    //! Parse `text`; on failure returns false and sets `error` (with the byte offset).
    static bool parse(std::string const& text, Json& out, std::string& error);

private:
    friend class JsonParser;
    Type mType{Type::kNull};
    bool mBool{false};
    double mNumber{0.0};
    std::string mString;
    std::vector<Json> mArray;
    std::vector<std::string> mKeys; // object members, in document order (parallel to mArray)
};

} // namespace edgeattn
