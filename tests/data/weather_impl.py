"""Implementations of the weather tools in weather_openai.json, for tests that need real tool results."""


def get_weather(city: str, unit: str = "celsius") -> str:
    return f"Sunny and 21 degrees in {city}"


def get_forecast(location: str, days: int, include_hourly: bool = False) -> str:
    return f"{days} days of sun in {location}"


def get_air_quality(latitude: float, longitude: float) -> str:
    return "AQI 42 (good)"
