#!/usr/bin/env python3
"""Generates data/catalog.json, the embedded default supplier catalog.

Deterministic: no randomness, no clock. Running it twice gives the same bytes.
Usage (from the repository root):

    python3 scripts/gen_catalog.py            # writes data/catalog.json
    python3 scripts/gen_catalog.py --check    # exits 1 if the file is stale

The first five records of every category are the prototype's mock database
(SPEC.md section 7): same ids, names, capacities, prices and ratings, all in
Springfield. Everything else is invented but plausible.
"""

import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "catalog.json"

# Districts used in street addresses, per city. "Downtown" matters: the venue
# search's `downtown` setting matches addresses containing it.
DISTRICTS = {
    "Springfield": ["Downtown", "Northside", "Elm Heights", "South End"],
    "Riverside": ["Downtown", "Harbor District", "Mill Town", "Riverside Heights"],
    "Lakewood": ["Lakefront", "Old Town", "Pine Ridge", "Downtown"],
    "Fairview": ["Downtown", "Meadowbrook", "Eastgate", "Fairview Hills"],
    "Hillcrest": ["Hilltop", "Downtown", "Westbrook", "College Park"],
    "Maplewood": ["Town Center", "Maple Grove", "Downtown", "Brookside"],
}
STREETS = [
    "Oak St", "Maple Ave", "Cedar Ln", "Main St", "Lake Rd", "River Dr",
    "Hill St", "Park Blvd", "Sunset Ave", "Willow Way", "Birch Ct", "Pine St",
    "Chestnut Ave", "Harbor Rd", "Meadow Ln", "Center Blvd", "Elm St",
]
CITY_AREA = {
    "Springfield": "217", "Riverside": "951", "Lakewood": "303",
    "Fairview": "615", "Hillcrest": "412", "Maplewood": "973",
}

AMENITIES = {
    "park": ["picnic tables", "playground", "restrooms", "open lawn"],
    "banquet_hall": ["tables and chairs", "dance floor", "sound system", "kitchen", "parking"],
    "community_hall": ["tables and chairs", "kitchen", "stage", "parking"],
    "restaurant": ["private room", "kids menu", "high chairs", "party host"],
    "community_center": ["tables and chairs", "kitchen", "stage", "parking"],
    "hotel": ["ballroom", "catering kitchen", "av equipment", "valet parking"],
    "museum": ["guided tour", "activity room", "gift shop", "parking"],
    "farm": ["hay rides", "petting area", "picnic tables", "barn"],
    "party_home": ["backyard", "kitchen", "living room", "street parking"],
    "private_home": ["garden", "patio", "kitchen", "street parking"],
    "vacation_home": ["backyard", "kitchen", "game room", "driveway parking"],
    "trampoline_park": ["trampolines", "party room", "grip socks", "party host"],
    "water_park": ["splash pads", "lifeguards", "changing rooms", "shaded pavilion"],
    "pool": ["pool", "lifeguard", "changing rooms", "party room"],
    "event_space": ["tables and chairs", "sound system", "projector", "kitchenette"],
    "aquarium": ["exhibit access", "party room", "touch tank", "gift shop"],
    "planetarium": ["dome show", "party room", "projector", "parking"],
    "play_cafe": ["soft play area", "cafe", "party room", "high chairs"],
    "library": ["meeting room", "projector", "craft supplies"],
    "camp": ["cabins", "fire pit", "sports fields", "picnic shelter"],
    "bowling_alley": ["bowling lanes", "arcade", "party room", "snack bar"],
    "tea_room": ["tea service", "dress-up corner", "private room"],
    "laser_tag_arena": ["laser tag arena", "arcade", "party room"],
    "zoo": ["animal encounters", "pavilion", "picnic area", "parking"],
    "adventure_park": ["zip lines", "climbing course", "picnic area", "party host"],
    "gym": ["obstacle course", "foam pit", "party room"],
    "barn": ["barn hall", "string lights", "tables and chairs", "lawn games"],
}

# name, city, type, capacity, daily_price, hourly_price, rating, themes, outdoor, address
VENUES = [
    ("Sunshine Garden Park", "Springfield", "park", 100, 0, 0, 4.7,
     ["jungle", "farm", "dinosaur"], True, "123 Park Ave, Downtown"),
    ("Crystal Ballroom", "Springfield", "banquet_hall", 200, 1500, 200, 4.9,
     ["princess", "unicorn"], False, "450 Center Blvd, Elm Heights"),
    ("Fun Zone Restaurant", "Springfield", "restaurant", 60, 400, 50, 4.5,
     ["superhero", "space"], False, "48 Main St, Downtown"),
    ("Community Center Hall", "Springfield", "community_center", 120, 300, 40, 4.3,
     ["superhero", "dinosaur"], False, "789 Oak St, Northside"),
    ("Grand Hotel Conference Center", "Springfield", "hotel", 250, 2000, 250, 4.8,
     ["princess", "space"], False, "500 Center Blvd, Downtown"),
    ("Springfield Science Museum", "Springfield", "museum", 150, 1200, 160, 4.6,
     ["space", "dinosaur"], False, None),
    ("Willow Creek Farm", "Springfield", "farm", 80, 350, 45, 4.4, ["farm"], True, None),
    ("Maple Street Party House", "Springfield", "party_home", 30, 180, 30, 4.2,
     ["unicorn", "princess"], False, None),
    ("Jumpstart Trampoline Park", "Springfield", "trampoline_park", 90, 750, 110, 4.0,
     ["superhero", "space"], False, None),
    ("Lincoln Square Pavilion", "Springfield", "park", 150, 0, 0, 4.1,
     ["jungle", "dinosaur"], True, "2 Lincoln Sq, Downtown"),
    # Riverside
    ("Riverside Boathouse", "Riverside", "event_space", 120, 900, 120, 4.6, ["ocean"], True, None),
    ("Harbor Lights Aquarium", "Riverside", "aquarium", 180, 2200, 300, 4.9,
     ["ocean", "jungle"], False, None),
    ("Riverbend Park", "Riverside", "park", 200, 0, 0, 4.3,
     ["jungle", "dinosaur", "farm"], True, None),
    ("Captain's Table Seafood Grill", "Riverside", "restaurant", 50, 300, 40, 4.0,
     ["ocean"], False, None),
    ("Riverside Community Hall", "Riverside", "community_hall", 140, 250, 35, 4.2,
     ["superhero"], False, None),
    ("Starlight Planetarium", "Riverside", "planetarium", 90, 1100, 150, 4.8,
     ["space"], False, "77 Main St, Downtown"),
    ("Little Explorers Play Cafe", "Riverside", "play_cafe", 35, 220, 40, 4.5,
     ["jungle", "unicorn"], False, None),
    ("Riverside Marriott Ballroom", "Riverside", "banquet_hall", 400, 3000, 400, 4.7,
     ["princess"], False, "1 River Dr, Downtown"),
    # Lakewood
    ("Lakewood Beach Pavilion", "Lakewood", "park", 120, 0, 0, 4.4, ["ocean"], True, None),
    ("Lakeshore Yacht Club", "Lakewood", "event_space", 160, 2500, 320, 4.9,
     ["ocean", "princess"], False, None),
    ("Lakewood Library Story Room", "Lakewood", "library", 40, 75, 15, 4.1,
     ["space", "dinosaur", "unicorn"], False, None),
    ("Pinecrest Camp Grounds", "Lakewood", "camp", 300, 800, 100, 4.3,
     ["jungle", "farm"], True, None),
    ("Galaxy Bowl & Arcade", "Lakewood", "bowling_alley", 80, 650, 90, 4.2,
     ["space", "superhero"], False, None),
    ("Enchanted Castle Tea Room", "Lakewood", "tea_room", 25, 280, 45, 4.8,
     ["princess", "unicorn"], False, None),
    ("Lakewood Recreation Center", "Lakewood", "community_center", 180, 350, 45, 4.0,
     ["superhero"], False, None),
    ("Mossy Rock Garden Cottage", "Lakewood", "private_home", 15, 120, 25, 4.6,
     ["unicorn", "farm"], True, None),
    # Fairview
    ("Fairview Heritage Farm", "Fairview", "farm", 100, 450, 60, 4.7, ["farm"], True, None),
    ("Fairview Central Park", "Fairview", "park", 250, 0, 0, 4.2,
     ["jungle", "dinosaur", "superhero"], True, "300 Park Blvd, Downtown"),
    ("Dino Dig Discovery Center", "Fairview", "museum", 120, 950, 130, 4.9,
     ["dinosaur"], False, None),
    ("The Rooftop at Fairview Plaza", "Fairview", "event_space", 90, 1600, 220, 4.5,
     ["space", "superhero"], True, "10 Center Blvd, Downtown"),
    ("Hero HQ Laser Tag", "Fairview", "laser_tag_arena", 60, 500, 70, 4.3,
     ["superhero", "space"], False, None),
    ("Fairview Grange Hall", "Fairview", "banquet_hall", 150, 600, 80, 3.9,
     ["farm", "princess"], False, None),
    ("Sweet Pea Party Loft", "Fairview", "event_space", 45, 350, 55, 4.4,
     ["unicorn", "princess"], False, None),
    ("Fairview Zoo Safari Lodge", "Fairview", "zoo", 200, 1800, 240, 4.8,
     ["jungle"], True, None),
    # Hillcrest
    ("Hillcrest Observatory Lawn", "Hillcrest", "park", 80, 0, 0, 4.5, ["space"], True, None),
    ("Hillcrest Country Club", "Hillcrest", "banquet_hall", 350, 2800, 350, 4.7,
     ["princess"], False, None),
    ("Ocean Breeze Swim Club", "Hillcrest", "pool", 100, 700, 95, 4.1, ["ocean"], True, None),
    ("Hillcrest Children's Museum", "Hillcrest", "museum", 130, 1000, 140, 4.6,
     ["dinosaur", "space", "farm"], False, "55 Main St, Downtown"),
    ("Treetop Adventure Park", "Hillcrest", "adventure_park", 70, 850, 120, 4.4,
     ["jungle", "superhero"], True, None),
    ("Hillcrest Community Center", "Hillcrest", "community_center", 160, 200, 30, 3.8,
     [], False, None),
    ("Pony Meadow Stables", "Hillcrest", "farm", 50, 550, 75, 4.9,
     ["farm", "unicorn"], True, None),
    ("Hillcrest Pizza Palace", "Hillcrest", "restaurant", 70, 250, 35, 4.0,
     ["superhero"], False, "210 Hill St, Downtown"),
    # Maplewood
    ("Maplewood Town Green", "Maplewood", "park", 400, 0, 0, 4.0,
     ["farm", "dinosaur"], True, None),
    ("Maplewood Inn & Suites", "Maplewood", "hotel", 220, 1900, 240, 4.3,
     ["princess"], False, "400 Main St, Downtown"),
    ("Coral Reef Aquarium Cafe", "Maplewood", "aquarium", 60, 900, 120, 4.6,
     ["ocean"], False, None),
    ("Rocket Kids Gym", "Maplewood", "gym", 40, 400, 60, 4.7,
     ["space", "superhero"], False, None),
    ("Maplewood Family Vacation Home", "Maplewood", "vacation_home", 25, 300, 40, 4.5,
     [], False, None),
    ("Wildflower Barn", "Maplewood", "barn", 110, 700, 90, 4.8,
     ["farm", "unicorn"], False, None),
    ("Splash Harbor Water Park", "Maplewood", "water_park", 220, 1400, 180, 4.4,
     ["ocean", "superhero"], True, None),
]

# name, city, specialties, (small, medium, large), rating, custom_designs, themes, dietary
BAKERIES = [
    ("Sweet Dreams Bakery", "Springfield",
     ["custom birthday cakes", "chocolate fudge cake", "vanilla cupcakes", "cake pops"],
     (80, 150, 300), 4.9, True, ["princess", "unicorn", "superhero"], ["vegetarian", "nut-free"]),
    ("Cake Masters Studio", "Springfield",
     ["sculpted 3d cakes", "fondant art", "red velvet cake", "lemon chiffon cake"],
     (100, 200, 400), 5.0, True, ["space", "dinosaur", "superhero", "princess", "jungle"],
     ["vegetarian", "gluten-free"]),
    ("Budget Bites Bakery", "Springfield",
     ["sheet cakes", "vanilla cupcakes", "chocolate cupcakes"],
     (40, 70, 120), 4.3, False, [], ["vegetarian"]),
    ("Organic Treats Bakery", "Springfield",
     ["organic carrot cake", "vegan chocolate cake", "gluten-free cupcakes"],
     (90, 170, 320), 4.7, True, ["farm", "jungle"],
     ["vegan", "vegetarian", "gluten-free", "dairy-free", "nut-free"]),
    ("Classic Confections", "Springfield",
     ["strawberry shortcake", "vanilla layer cake", "red velvet cake"],
     (65, 130, 250), 4.6, True, ["princess", "ocean"], ["vegetarian", "nut-free"]),
    ("Springfield Cupcake Co", "Springfield",
     ["cupcake towers", "lemon cupcakes", "strawberry cupcakes"],
     (45, 90, 170), 4.4, True, ["unicorn", "princess"], ["vegetarian", "dairy-free"]),
    ("Riverside Sweet Shop", "Riverside",
     ["chocolate drip cakes", "cookie cakes", "vanilla sheet cakes"],
     (55, 110, 210), 4.5, True, ["superhero", "space"], ["vegetarian"]),
    ("Mermaid Cove Cakes", "Riverside",
     ["mermaid tail cakes", "blue velvet cake", "vanilla bean cake"],
     (85, 160, 310), 4.8, True, ["ocean", "princess", "unicorn"], ["vegetarian", "gluten-free"]),
    ("Halal Delights Patisserie", "Riverside",
     ["chocolate cake", "rosewater sponge", "mango mousse cake"],
     (60, 120, 230), 4.6, True, ["jungle"], ["halal", "vegetarian"]),
    ("Golden Crust Bakery", "Riverside",
     ["sheet cakes", "carrot cake", "lemon pound cake"],
     (35, 65, 115), 4.0, False, ["farm"], ["vegetarian", "kosher"]),
    ("Rocket Bakes", "Riverside",
     ["galaxy mirror cakes", "chocolate cake", "cake pops"],
     (95, 180, 350), 4.7, True, ["space", "superhero"], ["vegetarian", "nut-free"]),
    ("Lakewood Bake House", "Lakewood",
     ["strawberry cake", "vanilla cake", "cupcakes"],
     (50, 95, 180), 4.2, False, [], ["vegetarian"]),
    ("Dino Bites Cakery", "Lakewood",
     ["dinosaur sculpted cakes", "chocolate cake", "carrot cake"],
     (75, 140, 270), 4.6, True, ["dinosaur", "jungle"], ["vegetarian", "nut-free"]),
    ("Pure & Simple Vegan Bakery", "Lakewood",
     ["vegan chocolate cake", "vegan vanilla cake", "lemon cake"],
     (70, 135, 260), 4.5, True, ["farm", "unicorn"],
     ["vegan", "vegetarian", "dairy-free", "nut-free", "gluten-free"]),
    ("Shalom Sweets", "Lakewood",
     ["honey cake", "chocolate babka", "vanilla sponge cake"],
     (60, 115, 220), 4.4, False, [], ["kosher", "vegetarian", "dairy-free"]),
    ("Fairy Frosting Studio", "Lakewood",
     ["unicorn cakes", "rainbow layer cake", "strawberry cake"],
     (90, 175, 330), 4.9, True, ["unicorn", "princess"], ["vegetarian"]),
    ("Fairview Family Bakery", "Fairview",
     ["sheet cakes", "chocolate cake", "vanilla cupcakes"],
     (40, 75, 135), 4.1, False, ["farm"], ["vegetarian"]),
    ("Hero Cakes Fairview", "Fairview",
     ["superhero cakes", "red velvet cake", "cookie cakes"],
     (80, 155, 290), 4.5, True, ["superhero", "space"], ["vegetarian", "nut-free"]),
    ("Barnyard Bakery", "Fairview",
     ["farm animal cakes", "carrot cake", "apple spice cake"],
     (55, 105, 200), 4.7, True, ["farm", "dinosaur"], ["vegetarian", "gluten-free"]),
    ("Gluten-Free Garden Bakery", "Fairview",
     ["gluten-free chocolate cake", "lemon cake", "coconut cake"],
     (85, 165, 315), 4.3, True, ["jungle", "ocean"], ["gluten-free", "dairy-free", "vegetarian"]),
    ("Sugar Crown Cakes", "Fairview",
     ["princess castle cakes", "vanilla cake", "strawberry cake"],
     (110, 220, 420), 4.8, True, ["princess", "unicorn"], ["vegetarian"]),
    ("Hillcrest Patisserie", "Hillcrest",
     ["french pastries", "lemon tart cake", "chocolate mousse cake"],
     (95, 190, 380), 4.9, True, ["princess"], ["vegetarian"]),
    ("Cosmic Cupcakes", "Hillcrest",
     ["galaxy cupcakes", "chocolate cupcakes", "vanilla cupcakes"],
     (50, 100, 190), 4.4, True, ["space", "unicorn"], ["vegan", "vegetarian", "dairy-free"]),
    ("Crescent Moon Bakery", "Hillcrest",
     ["date cake", "chocolate cake", "carrot cake"],
     (55, 110, 205), 4.2, False, [], ["halal", "vegetarian", "nut-free"]),
    ("Wild Safari Cakes", "Hillcrest",
     ["jungle animal cakes", "banana cake", "chocolate cake"],
     (85, 165, 300), 4.6, True, ["jungle", "dinosaur"], ["vegetarian"]),
    ("Maplewood Cake Shop", "Maplewood",
     ["vanilla cake", "chocolate cake", "strawberry cake"],
     (45, 85, 160), 3.9, False, [], ["vegetarian"]),
    ("Seashell Sweets", "Maplewood",
     ["seashell cakes", "lemon cake", "coconut cake"],
     (70, 140, 265), 4.5, True, ["ocean"], ["vegetarian", "gluten-free", "nut-free"]),
    ("Tiny Treats Kosher Bakery", "Maplewood",
     ["chocolate cake", "honey cake", "vanilla cupcakes"],
     (60, 120, 225), 4.3, True, ["unicorn", "superhero"], ["kosher", "vegetarian", "nut-free"]),
]

# name, city, cuisines, menu, dietary, price_per_person, min, max, rating, themes
CATERERS = [
    ("Kids Party Catering Co", "Springfield", ["american", "kid-friendly"],
     ["chicken tenders", "mini pizzas", "fruit cups", "mac and cheese"],
     ["vegetarian", "nut-free"], 15, 10, 150, 4.7, ["superhero", "princess", "space"]),
    ("Fiesta Flavors Catering", "Springfield", ["mexican"],
     ["taco bar", "quesadillas", "churros", "guacamole"],
     ["vegetarian", "gluten-free", "dairy-free"], 18, 20, 200, 4.8, ["jungle"]),
    ("Healthy Bites Catering", "Springfield", ["healthy", "mediterranean"],
     ["veggie wraps", "hummus platter", "quinoa salad", "fruit skewers"],
     ["vegan", "vegetarian", "gluten-free", "dairy-free", "nut-free"], 20, 10, 120, 4.6,
     ["farm", "unicorn"]),
    ("BBQ Masters Catering", "Springfield", ["bbq", "american"],
     ["pulled pork sliders", "bbq chicken", "corn on the cob", "coleslaw"],
     ["gluten-free"], 22, 30, 300, 4.9, ["farm", "dinosaur"]),
    ("Budget Buffet Catering", "Springfield", ["american", "italian"],
     ["pasta trays", "sandwich platters", "garden salad", "cookies"],
     ["vegetarian"], 12, 15, 250, 4.2, []),
    ("Springfield Halal Kitchen", "Springfield", ["middle eastern"],
     ["chicken shawarma", "falafel", "rice pilaf", "baklava"],
     ["halal", "vegetarian", "dairy-free"], 19, 15, 180, 4.5, []),
    ("Riverside Seafood Socials", "Riverside", ["seafood", "american"],
     ["fish tacos", "shrimp skewers", "fish and chips", "corn bread"],
     ["gluten-free", "dairy-free"], 28, 20, 150, 4.4, ["ocean"]),
    ("Little Chefs Catering", "Riverside", ["kid-friendly", "italian"],
     ["mini pizzas", "pasta bar", "garlic bread", "fruit cups"],
     ["vegetarian", "nut-free"], 14, 10, 80, 4.6, ["superhero", "princess"]),
    ("Spice Route Catering", "Riverside", ["indian"],
     ["butter chicken", "vegetable biryani", "samosas", "mango lassi"],
     ["vegetarian", "vegan", "halal", "gluten-free"], 21, 25, 250, 4.7, ["jungle"]),
    ("Green Plate Vegan Catering", "Riverside", ["vegan", "healthy"],
     ["vegan burgers", "veggie tacos", "rainbow salad", "coconut yogurt parfaits"],
     ["vegan", "vegetarian", "dairy-free", "gluten-free", "nut-free"], 24, 10, 100, 4.5,
     ["unicorn", "farm"]),
    ("Lakewood Grill & Cater", "Lakewood", ["american", "bbq"],
     ["burgers", "hot dogs", "grilled corn", "potato salad"],
     ["gluten-free"], 16, 20, 300, 4.1, ["farm", "superhero"]),
    ("Sakura Party Bento", "Lakewood", ["japanese"],
     ["chicken teriyaki bento", "sushi rolls", "edamame", "mochi"],
     ["dairy-free", "nut-free"], 26, 10, 90, 4.8, ["ocean", "space"]),
    ("Mama Rosa's Italian Catering", "Lakewood", ["italian"],
     ["lasagna", "meatballs", "caesar salad", "tiramisu"],
     ["vegetarian"], 20, 20, 200, 4.6, ["princess"]),
    ("Kosher Kitchen Lakewood", "Lakewood", ["kosher", "american"],
     ["roast chicken", "potato kugel", "challah", "fruit platter"],
     ["kosher", "dairy-free", "nut-free"], 30, 20, 150, 4.4, []),
    ("Fairview Farm Table", "Fairview", ["farm-to-table", "american"],
     ["roast chicken", "farm salad", "mac and cheese", "apple crisp"],
     ["vegetarian", "gluten-free"], 27, 15, 120, 4.8, ["farm"]),
    ("Taco Truck Fiesta", "Fairview", ["mexican"],
     ["street tacos", "nachos", "elote", "horchata"],
     ["gluten-free", "dairy-free"], 13, 25, 250, 4.3, ["jungle", "superhero"]),
    ("Royal Feast Caterers", "Fairview", ["french", "continental"],
     ["beef wellington bites", "vol-au-vents", "petit fours", "salade nicoise"],
     ["vegetarian", "gluten-free"], 55, 40, 400, 4.9, ["princess"]),
    ("Galaxy Grub Catering", "Fairview", ["american", "kid-friendly"],
     ["rocket hot dogs", "planet pizzas", "star sandwiches", "moon pies"],
     ["vegetarian", "nut-free"], 17, 10, 150, 4.5, ["space", "superhero"]),
    ("Hillcrest Mediterranean Kitchen", "Hillcrest", ["mediterranean", "greek"],
     ["chicken souvlaki", "spanakopita", "greek salad", "pita with tzatziki"],
     ["vegetarian", "halal", "nut-free"], 23, 15, 200, 4.7, []),
    ("Ocean Catch Catering", "Hillcrest", ["seafood"],
     ["lobster rolls", "shrimp cocktail", "clam chowder", "grilled salmon"],
     ["gluten-free", "dairy-free"], 45, 20, 160, 4.6, ["ocean"]),
    ("Jungle Juice & Bites", "Hillcrest", ["caribbean", "healthy"],
     ["jerk chicken", "plantain chips", "tropical fruit bowls", "rice and peas"],
     ["vegan", "vegetarian", "gluten-free", "dairy-free"], 19, 15, 120, 4.4, ["jungle", "ocean"]),
    ("Premier Events Catering", "Hillcrest", ["american", "continental"],
     ["carving station", "roasted vegetables", "mini desserts", "gourmet sliders"],
     ["vegetarian", "gluten-free", "kosher", "halal"], 60, 50, 400, 4.8,
     ["princess", "superhero"]),
    ("Maplewood Pizza Party", "Maplewood", ["italian", "kid-friendly"],
     ["pizza by the slice", "garlic knots", "caesar salad", "cannoli"],
     ["vegetarian"], 10, 10, 100, 4.0, ["superhero"]),
    ("Dragon Wok Catering", "Maplewood", ["chinese"],
     ["sweet and sour chicken", "vegetable lo mein", "spring rolls", "fortune cookies"],
     ["vegetarian", "dairy-free"], 16, 20, 200, 4.3, ["dinosaur"]),
    ("Sunrise Brunch Co", "Maplewood", ["breakfast", "american"],
     ["pancake bar", "scrambled eggs", "fruit salad", "yogurt parfaits"],
     ["vegetarian", "gluten-free", "nut-free"], 14, 10, 80, 4.6, ["unicorn", "farm"]),
    ("Little Dino Snack Shack", "Maplewood", ["kid-friendly"],
     ["dino nuggets", "veggie sticks", "fruit pouches", "juice boxes"],
     ["nut-free", "halal"], 8, 10, 60, 3.9, ["dinosaur", "jungle"]),
    ("Maplewood Kosher Deli", "Maplewood", ["kosher", "deli"],
     ["deli sandwiches", "matzo ball soup", "potato knishes", "black and white cookies"],
     ["kosher", "nut-free"], 25, 15, 150, 4.5, []),
]

# name, city, category, services, avg_price, rating, review_count, themes
VENDORS = [
    ("Magic Party Decorations", "Springfield", "decorations",
     ["balloon arches", "table centerpieces", "themed backdrops"], 500, 4.8, 142,
     ["unicorn", "princess", "superhero", "space"]),
    ("SuperHero Entertainment", "Springfield", "entertainment",
     ["costumed superheroes", "hero training games", "face painting"], 350, 4.9, 210,
     ["superhero"]),
    ("Picture Perfect Photography", "Springfield", "photography",
     ["event photography", "photo booth", "online gallery"], 600, 4.7, 96, []),
    ("Party Rental Pro", "Springfield", "rentals",
     ["bounce houses", "tables and chairs", "party tents"], 400, 4.6, 88,
     ["jungle", "superhero"]),
    ("Event Coordination Experts", "Springfield", "planning",
     ["full party planning", "day-of coordination", "vendor management"], 800, 5.0, 64, []),
    # decorations
    ("Balloon Bonanza", "Riverside", "decorations",
     ["balloon garlands", "balloon bouquets", "number balloons"], 250, 4.5, 73,
     ["unicorn", "ocean", "space"]),
    ("Jungle Vibes Decor", "Fairview", "decorations",
     ["tropical leaf walls", "animal props", "vine garlands"], 420, 4.6, 51,
     ["jungle", "dinosaur"]),
    ("Starry Night Events", "Hillcrest", "decorations",
     ["star ceiling drapes", "glow lighting", "planet centerpieces"], 480, 4.7, 39,
     ["space", "unicorn"]),
    ("Lakewood Party Decor", "Lakewood", "decorations",
     ["table settings", "banners", "balloon columns"], 300, 4.2, 118, ["princess", "farm"]),
    ("Under the Sea Designs", "Maplewood", "decorations",
     ["ocean backdrops", "bubble machines", "shell centerpieces"], 520, 4.8, 27, ["ocean"]),
    ("Royal Touch Decorations", "Riverside", "decorations",
     ["castle backdrops", "tulle draping", "throne chair"], 650, 4.9, 44,
     ["princess", "unicorn"]),
    ("DIY Party Kits Co", "Springfield", "decorations",
     ["themed decoration kits", "delivery", "setup guides"], 120, 4.0, 205,
     ["superhero", "dinosaur", "farm"]),
    ("Hillcrest Floral & Balloon", "Hillcrest", "decorations",
     ["flower arrangements", "balloon arches", "table runners"], 380, 4.4, 61,
     ["farm", "princess"]),
    ("Fairview Party Supply", "Fairview", "decorations",
     ["streamers and banners", "tableware", "balloons"], 150, 3.9, 240, []),
    # entertainment
    ("Captain Cosmo Science Shows", "Riverside", "entertainment",
     ["science show", "rocket launches", "slime lab"], 300, 4.8, 87, ["space"]),
    ("Princess Parties by Amelia", "Lakewood", "entertainment",
     ["princess character visits", "sing-alongs", "royal tea party"], 275, 4.9, 156,
     ["princess", "unicorn"]),
    ("Dino Dan's Fossil Dig", "Fairview", "entertainment",
     ["fossil dig pit", "dinosaur show", "paleontologist kits"], 325, 4.6, 48, ["dinosaur"]),
    ("Wild Encounters Animal Show", "Hillcrest", "entertainment",
     ["live animal show", "reptile handling", "animal facts quiz"], 450, 4.7, 63,
     ["jungle", "farm"]),
    ("Bubbles the Clown", "Maplewood", "entertainment",
     ["clown show", "balloon animals", "party games"], 180, 4.1, 132, []),
    ("Mermaid Splash Parties", "Maplewood", "entertainment",
     ["mermaid visits", "story time", "pool games"], 380, 4.5, 29, ["ocean", "princess"]),
    ("Magic Marvin", "Springfield", "entertainment",
     ["magic show", "balloon twisting", "magic lessons"], 220, 4.4, 176,
     ["superhero", "unicorn"]),
    ("Hillcrest Puppet Theater", "Hillcrest", "entertainment",
     ["puppet show", "puppet making", "sing-alongs"], 200, 4.3, 41, ["farm", "jungle"]),
    ("Lakewood DJ Kids", "Lakewood", "entertainment",
     ["kids dj", "dance games", "karaoke"], 260, 4.0, 95, ["superhero", "space"]),
    # photography
    ("Snapshot Studios", "Riverside", "photography",
     ["event photography", "group portraits", "prints"], 450, 4.5, 112, []),
    ("Little Moments Photography", "Lakewood", "photography",
     ["candid kids photography", "cake smash sessions", "online gallery"], 380, 4.8, 58,
     ["princess", "unicorn"]),
    ("Fairview Photo Booth Co", "Fairview", "photography",
     ["photo booth", "props", "instant prints"], 300, 4.3, 140, ["superhero", "space"]),
    ("Hillcrest Portrait House", "Hillcrest", "photography",
     ["portrait sessions", "event photography", "photo albums"], 700, 4.9, 36, []),
    ("Candid Kids Photography", "Maplewood", "photography",
     ["candid photography", "outdoor shoots", "digital files"], 350, 4.6, 47, ["farm"]),
    ("Underwater Lens Photography", "Riverside", "photography",
     ["pool party photography", "underwater shots", "video clips"], 550, 4.4, 22, ["ocean"]),
    ("Galaxy Glow Photo Booths", "Springfield", "photography",
     ["glow photo booth", "gif station", "props"], 275, 4.2, 88, ["space"]),
    ("Lakewood Video & Photo", "Lakewood", "photography",
     ["videography", "event photography", "highlight reel"], 800, 4.7, 31, []),
    ("Wildlife Frame Photography", "Fairview", "photography",
     ["outdoor event photography", "safari-style backdrops", "prints"], 500, 4.1, 19,
     ["jungle"]),
    ("Sunny Day Snaps", "Hillcrest", "photography",
     ["party photography", "photo booth", "same-day previews"], 320, 4.5, 54,
     ["unicorn", "farm"]),
    # rentals
    ("Bounce Kingdom Rentals", "Riverside", "rentals",
     ["castle bounce houses", "water slides", "obstacle courses"], 300, 4.5, 190,
     ["princess", "superhero"]),
    ("Lakewood Tent & Table", "Lakewood", "rentals",
     ["party tents", "tables and chairs", "linens"], 450, 4.3, 77, []),
    ("Fairview Party Rentals", "Fairview", "rentals",
     ["bounce houses", "popcorn machines", "tables and chairs"], 350, 4.4, 102, []),
    ("Hillcrest Event Rentals", "Hillcrest", "rentals",
     ["marquee tents", "lighting", "dance floors"], 550, 4.8, 43, []),
    ("Jumbo Games Rental", "Maplewood", "rentals",
     ["giant lawn games", "arcade machines", "inflatable games"], 250, 4.6, 66,
     ["superhero", "space"]),
    ("Dino Inflatables", "Springfield", "rentals",
     ["dinosaur bounce house", "inflatable slide", "ball pit"], 325, 4.7, 71,
     ["dinosaur", "jungle"]),
    ("Sea Breeze Rentals", "Maplewood", "rentals",
     ["water slides", "splash pads", "beach umbrellas"], 400, 4.0, 28, ["ocean"]),
    ("Castle Bounce Co", "Lakewood", "rentals",
     ["castle bounce house", "princess carriage", "pastel tents"], 280, 4.2, 59,
     ["princess", "unicorn"]),
    ("Petting Zoo Pals", "Fairview", "rentals",
     ["mobile petting zoo", "pony rides", "hay bales"], 600, 4.9, 84, ["farm"]),
    # planning
    ("Little Party Planners", "Riverside", "planning",
     ["party planning", "theme design", "day-of coordination"], 650, 4.6, 38, []),
    ("Hillcrest Event Studio", "Hillcrest", "planning",
     ["full-service planning", "vendor booking", "budget management"], 1200, 4.8, 21, []),
    ("Lakewood Celebrations", "Lakewood", "planning",
     ["party planning", "invitations", "timeline management"], 550, 4.3, 45, []),
]


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def contact(kind, record_id, name, city):
    """Alternates phone numbers (555 fictional range) and e-mail addresses."""
    if record_id % 2 == 1:
        return f"({CITY_AREA[city]}) 555-{(kind * 1000 + record_id * 37) % 10000:04d}"
    return f"hello@{slug(name)}.example"


def address(record_id, city, given):
    if given:
        return given
    districts = DISTRICTS[city]
    number = 10 + (record_id * 137) % 890
    street = STREETS[(record_id * 7) % len(STREETS)]
    district = districts[(record_id * 3) % len(districts)]
    if district == "Downtown":
        # Keep "downtown" deliberate: only venues that name it explicitly.
        district = districts[(record_id * 3 + 1) % len(districts)]
    return f"{number} {street}, {district}"


def theme_sentence(themes):
    if not themes:
        return ""
    if len(themes) == 1:
        return f" A favourite for {themes[0]} parties."
    return f" A favourite for {', '.join(themes[:-1])} and {themes[-1]} parties."


def venues():
    out = []
    for i, (name, city, vtype, cap, daily, hourly, rating, themes, outdoor, addr) in enumerate(
        VENUES, start=1
    ):
        label = vtype.replace("_", " ")
        where = "outdoor" if outdoor else "indoor"
        price = "free to book" if daily == 0 else f"${daily} per day"
        out.append({
            "id": i,
            "name": name,
            "type": vtype,
            "city": city,
            "address": address(i, city, addr),
            "capacity": cap,
            "amenities": AMENITIES[vtype],
            "daily_price": daily,
            "hourly_price": hourly,
            "contact": contact(1, i, name, city),
            "rating": rating,
            "images": [
                f"https://images.partybus.example/venues/{i}-1.jpg",
                f"https://images.partybus.example/venues/{i}-2.jpg",
            ],
            "description": f"An {where} {label} in {city} for up to {cap} guests, {price}."
            + theme_sentence(themes),
            "themes": themes,
            "outdoor": outdoor,
        })
    return out


def bakeries():
    out = []
    for i, (name, city, specs, (s, m, l), rating, custom, themes, diet) in enumerate(
        BAKERIES, start=1
    ):
        designs = "Custom themed designs on request." if custom else "Classic designs only."
        out.append({
            "id": i,
            "name": name,
            "city": city,
            "specialties": specs,
            "price_range": {"small": s, "medium": m, "large": l},
            "contact": contact(2, i, name, city),
            "rating": rating,
            "portfolio_images": [f"https://images.partybus.example/bakeries/{i}-1.jpg"],
            "custom_designs": custom,
            "description": f"{city} bakery known for {specs[0]} and {specs[1]}. {designs}"
            + theme_sentence(themes),
            "themes": themes,
            "dietary_options": diet,
        })
    return out


def caterers():
    out = []
    for i, (name, city, cuisines, menu, diet, ppp, lo, hi, rating, themes) in enumerate(
        CATERERS, start=1
    ):
        out.append({
            "id": i,
            "name": name,
            "city": city,
            "cuisine_types": cuisines,
            "menu_items": menu,
            "dietary_options": diet,
            "price_per_person": ppp,
            "min_guests": lo,
            "max_guests": hi,
            "contact": contact(3, i, name, city),
            "rating": rating,
            "description": f"{' and '.join(c.title() for c in cuisines)} catering in {city} "
            f"for {lo} to {hi} guests, from ${ppp} per person." + theme_sentence(themes),
            "themes": themes,
        })
    return out


def vendors():
    out = []
    for i, (name, city, category, services, price, rating, reviews, themes) in enumerate(
        VENDORS, start=1
    ):
        out.append({
            "id": i,
            "name": name,
            "city": city,
            "category": category,
            "services": services,
            "contact": contact(4, i, name, city),
            "rating": rating,
            "avg_price": price,
            "review_count": reviews,
            "description": f"{category.title()} in {city}: {', '.join(services)}."
            + theme_sentence(themes),
            "portfolio_images": [
                f"https://images.partybus.example/vendors/{i}-1.jpg",
                f"https://images.partybus.example/vendors/{i}-2.jpg",
            ],
            "themes": themes,
        })
    return out


def render():
    catalog = {
        "venues": venues(),
        "bakeries": bakeries(),
        "caterers": caterers(),
        "vendors": vendors(),
    }
    return json.dumps(catalog, indent=2, ensure_ascii=False) + "\n"


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run scripts/gen_catalog.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
