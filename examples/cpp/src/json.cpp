#include "json.hpp"

#include <cstdlib>
#include <cstring>

namespace edgeattn {

Json const* Json::find(std::string const& key) const
{
    if (mType != Type::kObject)
    {
        return nullptr;
    }
    for (size_t i = mKeys.size(); i-- > 0;) // the last duplicate wins
    {
        if (mKeys[i] == key)
        {
            return &mArray[i];
        }
    }
    return nullptr;
}

class JsonParser {
public:
    explicit JsonParser(std::string const& text) : mText(text) {}

    bool document(Json& out)
    {
        if (!value(out, 0))
        {
            return false;
        }
        skipSpace();
        return mPos == mText.size() || fail("unexpected text after the JSON value");
    }

    std::string const& error() const { return mError; }

private:
    static constexpr int kMaxDepth = 64;

    bool fail(char const* what)
    {
        mError = std::string(what) + " at byte " + std::to_string(mPos);
        return false;
    }

    void skipSpace()
    {
        while (mPos < mText.size() && std::strchr(" \t\r\n", mText[mPos]) != nullptr)
        {
            ++mPos;
        }
    }

    bool literal(char const* word)
    {
        size_t const n = std::strlen(word);
        if (mText.compare(mPos, n, word) != 0)
        {
            return fail("invalid literal");
        }
        mPos += n;
        return true;
    }

    bool value(Json& out, int depth)
    {
        if (depth > kMaxDepth)
        {
            return fail("JSON nested too deeply");
        }
        skipSpace();
        if (mPos >= mText.size())
        {
            return fail("unexpected end of JSON");
        }
        char const c = mText[mPos];
        switch (c)
        {
        case '{': return object(out, depth);
        case '[': return array(out, depth);
        case '"': out.mType = Json::Type::kString; return string(out.mString);
        case 't': out.mType = Json::Type::kBool; out.mBool = true; return literal("true");
        case 'f': out.mType = Json::Type::kBool; out.mBool = false; return literal("false");
        case 'n': out.mType = Json::Type::kNull; return literal("null");
        default: return number(out);
        }
    }

    bool number(Json& out)
    {
        size_t const start = mPos;
        while (mPos < mText.size() && std::strchr("+-0123456789.eE", mText[mPos]) != nullptr)
        {
            ++mPos;
        }
        if (mPos == start)
        {
            return fail("unexpected character");
        }
        std::string const token = mText.substr(start, mPos - start);
        char* end = nullptr;
        out.mNumber = std::strtod(token.c_str(), &end);
        out.mType = Json::Type::kNumber;
        return (end != nullptr && *end == '\0') || fail("invalid number");
    }

    bool hex4(unsigned& code)
    {
        if (mPos + 4 > mText.size())
        {
            return fail("truncated \\u escape");
        }
        code = 0;
        for (int i = 0; i < 4; ++i)
        {
            char const h = mText[mPos++];
            code <<= 4;
            if (h >= '0' && h <= '9') code |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f') code |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') code |= static_cast<unsigned>(h - 'A' + 10);
            else return fail("invalid \\u escape");
        }
        return true;
    }

    static void appendUtf8(std::string& out, unsigned code)
    {
        if (code < 0x80)
        {
            out += static_cast<char>(code);
        }
        else if (code < 0x800)
        {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
        else if (code < 0x10000)
        {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
        else
        {
            out += static_cast<char>(0xF0 | (code >> 18));
            out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
    }

    bool escape(std::string& out)
    {
        char const e = mText[mPos++];
        switch (e)
        {
        case '"': out += '"'; return true;
        case '\\': out += '\\'; return true;
        case '/': out += '/'; return true;
        case 'b': out += '\b'; return true;
        case 'f': out += '\f'; return true;
        case 'n': out += '\n'; return true;
        case 'r': out += '\r'; return true;
        case 't': out += '\t'; return true;
        case 'u': break;
        default: return fail("invalid escape");
        }
        unsigned code = 0;
        if (!hex4(code))
        {
            return false;
        }
        if (code >= 0xD800 && code < 0xDC00 && mText.compare(mPos, 2, "\\u") == 0)
        {
            mPos += 2;
            unsigned low = 0;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF)
            {
                return fail("invalid surrogate pair");
            }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        appendUtf8(out, code);
        return true;
    }

    bool string(std::string& out)
    {
        ++mPos; // opening quote
        out.clear();
        while (mPos < mText.size())
        {
            char const c = mText[mPos++];
            if (c == '"')
            {
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20)
            {
                return fail("control character in string");
            }
            if (c != '\\')
            {
                out += c;
            }
            else if (mPos >= mText.size() || !escape(out))
            {
                return mError.empty() ? fail("unterminated string") : false;
            }
        }
        return fail("unterminated string");
    }

    bool array(Json& out, int depth)
    {
        out.mType = Json::Type::kArray;
        ++mPos;
        skipSpace();
        if (mPos < mText.size() && mText[mPos] == ']')
        {
            ++mPos;
            return true;
        }
        while (true)
        {
            out.mArray.emplace_back();
            if (!value(out.mArray.back(), depth + 1))
            {
                return false;
            }
            skipSpace();
            if (mPos < mText.size() && mText[mPos] == ',')
            {
                ++mPos;
                continue;
            }
            if (mPos < mText.size() && mText[mPos] == ']')
            {
                ++mPos;
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }

    bool object(Json& out, int depth)
    {
        out.mType = Json::Type::kObject;
        ++mPos;
        skipSpace();
        if (mPos < mText.size() && mText[mPos] == '}')
        {
            ++mPos;
            return true;
        }
        while (true)
        {
            skipSpace();
            std::string key;
            if (mPos >= mText.size() || mText[mPos] != '"' || !string(key))
            {
                return mError.empty() ? fail("expected a string key") : false;
            }
            skipSpace();
            if (mPos >= mText.size() || mText[mPos] != ':')
            {
                return fail("expected ':'");
            }
            ++mPos;
            out.mKeys.push_back(key);
            out.mArray.emplace_back();
            if (!value(out.mArray.back(), depth + 1))
            {
                return false;
            }
            skipSpace();
            if (mPos < mText.size() && mText[mPos] == ',')
            {
                ++mPos;
                continue;
            }
            if (mPos < mText.size() && mText[mPos] == '}')
            {
                ++mPos;
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }

    std::string const& mText;
    size_t mPos{0};
    std::string mError;
};

bool Json::parse(std::string const& text, Json& out, std::string& error)
{
    JsonParser parser(text);
    out = Json();
    if (!parser.document(out))
    {
        error = parser.error();
        return false;
    }
    return true;
}

} // namespace edgeattn
